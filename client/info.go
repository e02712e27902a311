package client

import (
	"io/fs"
	"path"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// FileInfo describes a file or directory. It implements fs.FileInfo.
type FileInfo struct {
	Path        string
	Inode       cairn.InodeID
	size        int64
	mode        fs.FileMode
	modTime     time.Time
	UID, GID    uint32
	CRC32C      uint32 // CRC32C of the whole content, composed from the chunks
	Version     uint64 // grows with every content change
	Chunks      uint64
	ChunkSize   int64
	Replication int
	Xattrs      map[string]string
	// Quota and Usage are set for a directory with a quota: its limits
	// and what lies below it now. Both are nil otherwise.
	Quota *Quota
	Usage *Usage
}

func newInfo(p string, a *pb.Attr) *FileInfo {
	mode := fs.FileMode(a.Mode & 0o777)
	if a.Dir {
		mode |= fs.ModeDir
	}
	fi := &FileInfo{Path: p, Inode: cairn.InodeID(a.Inode), size: a.Size, mode: mode, modTime: time.Unix(0, a.MtimeNs),
		UID: a.Uid, GID: a.Gid, CRC32C: a.Crc32C, Version: a.Version, Chunks: a.Chunks, ChunkSize: a.ChunkSize,
		Replication: int(a.Replication), Xattrs: a.Xattrs}
	fi.Quota, fi.Usage = quotaOf(a)
	return fi
}

// Name is the base name.
func (fi *FileInfo) Name() string {
	if fi.Path == "/" {
		return "/"
	}
	return path.Base(fi.Path)
}
func (fi *FileInfo) Size() int64        { return fi.size }
func (fi *FileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *FileInfo) ModTime() time.Time { return fi.modTime }
func (fi *FileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *FileInfo) Sys() any           { return nil }
