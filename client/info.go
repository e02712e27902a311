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
	Path     string
	Inode    cairn.InodeID
	size     int64
	mode     fs.FileMode
	modTime  time.Time
	UID, GID uint32
	// Owner and Group name UID and GID (the number in decimal when no
	// namespace user or group has it; "root" for 0).
	Owner, Group string
	CRC32C       uint32 // CRC32C of the whole content, composed from the chunks
	Version      uint64 // grows with every content change
	Chunks       uint64
	ChunkSize    int64
	Replication  int
	Xattrs       map[string]string
	// Quota and Usage are set for a directory with a quota: its limits
	// and what lies below it now. Both are nil otherwise.
	Quota *Quota
	Usage *Usage
}

func newInfo(p string, a *pb.Attr) *FileInfo {
	fi := &FileInfo{Path: p, Inode: cairn.InodeID(a.Inode), size: a.Size, mode: fileMode(a.Mode, a.Dir), modTime: time.Unix(0, a.MtimeNs),
		UID: a.Uid, GID: a.Gid, Owner: a.Owner, Group: a.Group, CRC32C: a.Crc32C, Version: a.Version, Chunks: a.Chunks, ChunkSize: a.ChunkSize,
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

// POSIXMode is the mode as POSIX bits: permissions with setuid (04000),
// setgid (02000) and sticky (01000).
func (fi *FileInfo) POSIXMode() uint32 { return posixMode(fi.mode) }

// fileMode turns stored POSIX mode bits into an fs.FileMode.
func fileMode(bits uint32, dir bool) fs.FileMode {
	mode := fs.FileMode(bits & 0o777)
	if dir {
		mode |= fs.ModeDir
	}
	for _, b := range []struct {
		posix uint32
		mode  fs.FileMode
	}{{0o4000, fs.ModeSetuid}, {0o2000, fs.ModeSetgid}, {0o1000, fs.ModeSticky}} {
		if bits&b.posix != 0 {
			mode |= b.mode
		}
	}
	return mode
}

// posixMode turns an fs.FileMode's permission, setuid, setgid and sticky
// bits into POSIX mode bits.
func posixMode(m fs.FileMode) uint32 {
	bits := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}
