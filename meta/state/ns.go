package state

import (
	"errors"
	"fmt"
	"maps"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// namespace applies the commands that change the tree: directories, file
// content, renames, removals and attributes.
type namespace struct{ *tx }

func (t namespace) mkdir(req *pb.MkdirRequest) (*pb.Attr, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	if path == "/" {
		if req.Parents {
			return t.attr(cairn.RootInode)
		}
		return nil, cairn.E("mkdir", cairn.PathArg(path), cairn.Exists, errors.New("the root directory always exists"))
	}
	parent, base, err := t.parentDir("mkdir", path, req.Parents)
	if err != nil {
		return nil, err
	}
	de, ok, err := t.dirent(cairn.InodeID(parent.Inode), base)
	if err != nil {
		return nil, err
	}
	if ok {
		if de.Dir && req.Parents {
			return t.attr(cairn.InodeID(de.Inode))
		}
		what := "a directory"
		if !de.Dir {
			what = "a file"
		}
		return nil, cairn.E("mkdir", cairn.PathArg(path), cairn.Exists, fmt.Errorf("%s already exists as %s", path, what))
	}
	if err := t.who.check("mkdir", path, parent, permWrite|permExec); err != nil {
		return nil, err
	}
	mode := req.Mode
	if mode == 0 {
		mode = 0o755
	}
	return t.createDir(parent, base, mode&0o7777)
}

// commit writes a file's new chunk list. A commit whose chunks are all
// already committed to this very file is a retry of a commit that succeeded:
// it returns the current attributes and changes nothing.
func (t namespace) commit(req *pb.CommitRequest) (*pb.Attr, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	parent, base, err := t.parentDirKeep("commit", path, req.Parents, int(req.ExistingDirs))
	if err != nil {
		return nil, err
	}
	de, exists, err := t.dirent(cairn.InodeID(parent.Inode), base)
	if err != nil {
		return nil, err
	}
	var a *pb.Attr
	if exists {
		if de.Dir {
			return nil, cairn.E("commit", cairn.PathArg(path), cairn.IsDir, errors.New("cannot write file content to a directory"))
		}
		if a, err = t.attr(cairn.InodeID(de.Inode)); err != nil {
			return nil, err
		}
		if done, err := t.alreadyCommitted(a, req.Chunks); done || err != nil {
			return a, err
		}
		if req.Mode == pb.CommitMode_COMMIT_CREATE {
			return nil, cairn.E("commit", cairn.PathArg(path), cairn.Exists, errors.New("file already exists (overwrite or append instead)"))
		}
		if err := t.who.check("commit", path, a, permWrite); err != nil {
			return nil, err
		}
	} else if err := t.who.check("commit", path, parent, permWrite|permExec); err != nil {
		return nil, err
	}
	if req.ExpectVersion != 0 && (a == nil || a.Version != req.ExpectVersion) {
		return nil, cairn.E("commit", cairn.PathArg(path), cairn.Conflict, fmt.Errorf("file changed: expected version %d", req.ExpectVersion))
	}
	if err := t.checkNewChunks(req.Chunks); err != nil {
		return nil, cairn.E("commit", cairn.PathArg(path), err)
	}
	if err := t.chargeCommit(parent, base, a, req); err != nil { // quota.go
		return nil, err
	}
	if a == nil {
		ino, err := t.newInode()
		if err != nil {
			return nil, err
		}
		a = &pb.Attr{Inode: uint64(ino), Parent: parent.Inode, Mode: 0o644, CtimeNs: t.now, Name: base,
			Replication: req.Replication, ChunkSize: req.ChunkSize}
		t.who.newOwner(parent, a)
		if err := putProto(t.b, direntKey(cairn.InodeID(parent.Inode), base), &pb.Dirent{Inode: uint64(ino)}); err != nil {
			return nil, err
		}
		if err := t.touch(parent); err != nil {
			return nil, err
		}
	}
	base0 := a.Size
	if req.Mode != pb.CommitMode_COMMIT_APPEND {
		if err := t.dropChunks(cairn.InodeID(a.Inode)); err != nil {
			return nil, err
		}
		base0, a.Size, a.Crc32C, a.Chunks = 0, 0, 0, 0
	}
	if err := t.addChunks(a, base0, req.Chunks); err != nil {
		return nil, err
	}
	t.who.wrote(a)
	// As open(2) with O_CREAT: the mode is for a new file, or one the
	// caller owns; others' files keep theirs.
	if req.ModeBits != 0 && (a.Version == 0 || t.who.owns(a)) {
		a.Mode = req.ModeBits & 0o7777
	}
	if req.ReplaceXattrs {
		a.Xattrs = maps.Clone(req.Xattrs)
	} else if len(req.Xattrs) > 0 {
		if a.Xattrs == nil {
			a.Xattrs = map[string]string{}
		}
		maps.Copy(a.Xattrs, req.Xattrs)
	}
	if req.Replication != 0 {
		a.Replication = req.Replication
	}
	if req.ChunkSize != 0 {
		a.ChunkSize = req.ChunkSize
	}
	a.Version++
	a.MtimeNs, a.CtimeNs = t.now, t.now
	return a, t.putAttr(a)
}

// alreadyCommitted reports whether every chunk in chunks is already
// committed to file a (the request is a retry of a commit that landed).
func (t namespace) alreadyCommitted(a *pb.Attr, chunks []*pb.StoredChunk) (bool, error) {
	if len(chunks) == 0 {
		return false, nil
	}
	for _, sc := range chunks {
		id, err := cairn.ChunkIDFromBytes(sc.GetChunk().GetId())
		if err != nil {
			return false, err
		}
		rec := &pb.ChunkRecord{}
		ok, err := getProto(t.b, locKey(id), rec)
		if err != nil || !ok || rec.Inode != a.Inode {
			return false, err
		}
	}
	return true, nil
}

// checkNewChunks refuses malformed chunk lists and chunks that some file
// already references: a chunk belongs to exactly one file.
func (t namespace) checkNewChunks(chunks []*pb.StoredChunk) error {
	seen := map[cairn.ChunkID]bool{}
	for i, sc := range chunks {
		c := sc.GetChunk()
		id, err := cairn.ChunkIDFromBytes(c.GetId())
		if err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		if c.Length <= 0 {
			return cairn.E(cairn.Invalid, fmt.Errorf("chunk %d (%s) has length %d; chunks are never empty", i, id, c.Length))
		}
		if len(sc.Nodes) == 0 {
			return cairn.E(cairn.Invalid, fmt.Errorf("chunk %d (%s) names no node that stored it", i, id))
		}
		if seen[id] {
			return cairn.E(cairn.Invalid, fmt.Errorf("chunk %s appears twice", id))
		}
		seen[id] = true
		if ok, err := getProto(t.b, locKey(id), &pb.ChunkRecord{}); err != nil || ok {
			if err == nil {
				err = cairn.E(cairn.Invalid, fmt.Errorf("chunk %s is already part of another file", id))
			}
			return err
		}
		// A chunk queued for deletion must never be referenced again (a
		// very late retry of an old commit would otherwise point at bytes
		// the collector is removing).
		if ok, err := getProto(t.b, garbageKey(id), &pb.GarbageRecord{}); err != nil || ok {
			if err == nil {
				err = cairn.E(cairn.Invalid, fmt.Errorf("chunk %s was released and is being deleted; upload it again", id))
			}
			return err
		}
	}
	return nil
}

// addChunks appends chunks to file a starting at file offset base.
func (t namespace) addChunks(a *pb.Attr, base int64, chunks []*pb.StoredChunk) error {
	ino := cairn.InodeID(a.Inode)
	off := base
	for _, sc := range chunks {
		c := sc.Chunk
		id, _ := cairn.ChunkIDFromBytes(c.Id)
		ref := &pb.ChunkRef{Id: c.Id, Offset: off, Length: c.Length, Crc32C: c.Crc32C, Md5: c.Md5}
		if err := putProto(t.b, chunkKey(ino, off), ref); err != nil {
			return err
		}
		if err := putProto(t.b, locKey(id), &pb.ChunkRecord{Inode: a.Inode, Nodes: sc.Nodes, Length: c.Length}); err != nil {
			return err
		}
		a.Crc32C = checksum.CombineCRC32C(a.Crc32C, c.Crc32C, c.Length)
		off += c.Length
		a.Chunks++
	}
	a.Size = off
	return nil
}

func (t namespace) rename(req *pb.RenameRequest) error {
	src, err := cairn.CleanPath(req.Src)
	if err != nil {
		return err
	}
	dst, err := cairn.CleanPath(req.Dst)
	if err != nil {
		return err
	}
	if src == "/" || dst == "/" {
		return cairn.E("rename", cairn.PathArg(src), cairn.Invalid, errors.New("the root directory cannot be renamed or replaced"))
	}
	sa, err := resolveAs(t.b, src, t.who)
	if err != nil {
		return cairn.E("rename", cairn.PathArg(src), err)
	}
	if src == dst {
		return nil
	}
	dparent, dbase, err := t.parentDir("rename", dst, false)
	if err != nil {
		return err
	}
	if err := t.mayRename(src, sa, dst, dparent); err != nil {
		return err
	}
	// Refuse moving a directory into itself or below itself.
	for p := dparent; ; {
		if p.Inode == sa.Inode {
			return cairn.E("rename", cairn.PathArg(src), cairn.Invalid, fmt.Errorf("cannot move a directory into itself (%s is inside %s)", dst, src))
		}
		if p.Inode == uint64(cairn.RootInode) {
			break
		}
		if p, err = t.attr(cairn.InodeID(p.Parent)); err != nil {
			return err
		}
	}
	de, exists, err := t.dirent(cairn.InodeID(dparent.Inode), dbase)
	if err != nil {
		return err
	}
	var replaced *pb.Attr
	if exists {
		if err := t.replaceable(req, sa, de, dst); err != nil {
			return err
		}
		if replaced, err = t.attr(cairn.InodeID(de.Inode)); err != nil {
			return err
		}
		if !t.who.mayRemoveFrom(dparent, replaced) {
			return t.who.refuse("rename", dst, dparent, "may not replace "+dst+": not its owner nor the owner of sticky directory")
		}
		if err := t.removeInode(replaced); err != nil {
			return err
		}
	}
	if err := t.quotaRename(dst, sa, dparent, replaced); err != nil { // quota.go
		return err
	}
	sparent, err := t.attr(cairn.InodeID(sa.Parent))
	if err != nil {
		return err
	}
	if err := t.b.Delete(direntKey(cairn.InodeID(sa.Parent), sa.Name), nil); err != nil {
		return err
	}
	if err := putProto(t.b, direntKey(cairn.InodeID(dparent.Inode), dbase), &pb.Dirent{Inode: sa.Inode, Dir: sa.Dir}); err != nil {
		return err
	}
	sa.Parent, sa.Name, sa.CtimeNs = dparent.Inode, dbase, t.now
	if err := t.putAttr(sa); err != nil {
		return err
	}
	if err := t.touch(sparent); err != nil {
		return err
	}
	if sparent.Inode != dparent.Inode {
		// Re-read: touch(sparent) may have rewritten the same record.
		if dparent, err = t.attr(cairn.InodeID(dparent.Inode)); err != nil {
			return err
		}
		return t.touch(dparent)
	}
	return nil
}

// replaceable checks the POSIX rules for renaming src over an existing dst.
func (t namespace) replaceable(req *pb.RenameRequest, sa *pb.Attr, de *pb.Dirent, dst string) error {
	switch {
	case req.NoReplace:
		return cairn.E("rename", cairn.PathArg(dst), cairn.Exists, errors.New("destination exists"))
	case sa.Dir && !de.Dir:
		return cairn.E("rename", cairn.PathArg(dst), cairn.NotDir, errors.New("cannot replace a file with a directory"))
	case !sa.Dir && de.Dir:
		return cairn.E("rename", cairn.PathArg(dst), cairn.IsDir, errors.New("cannot replace a directory with a file"))
	case de.Dir:
		empty, err := dirEmpty(t.b, cairn.InodeID(de.Inode))
		if err != nil {
			return err
		}
		if !empty {
			return cairn.E("rename", cairn.PathArg(dst), cairn.NotEmpty, errors.New("destination directory is not empty"))
		}
	}
	return nil
}

func (t namespace) remove(req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	if path == "/" {
		return nil, cairn.E("remove", cairn.PathArg(path), cairn.Invalid, errors.New("the root directory cannot be removed"))
	}
	a, err := resolveAs(t.b, path, t.who)
	if err != nil {
		return nil, cairn.E("remove", cairn.PathArg(path), err)
	}
	parent, err := t.attr(cairn.InodeID(a.Parent))
	if err != nil {
		return nil, err
	}
	if err := t.mayRemove(path, parent, a); err != nil {
		return nil, err
	}
	if a.Dir && !req.Recursive {
		empty, err := dirEmpty(t.b, cairn.InodeID(a.Inode))
		if err != nil {
			return nil, err
		}
		if !empty {
			return nil, cairn.E("remove", cairn.PathArg(path), cairn.NotEmpty, errors.New("it still has entries; remove recursively (rm -r) to delete its contents"))
		}
	}
	if err := t.releaseQuota(a); err != nil { // quota.go
		return nil, err
	}
	resp := &pb.RemoveResponse{}
	if err := t.removeTree(path, a, resp); err != nil {
		return nil, err
	}
	if err := t.b.Delete(direntKey(cairn.InodeID(a.Parent), a.Name), nil); err != nil {
		return nil, err
	}
	// Re-read: removing the tree may not touch it, but keep one source.
	if parent, err = t.attr(cairn.InodeID(a.Parent)); err != nil {
		return nil, err
	}
	return resp, t.touch(parent)
}

// removeTree removes a (at path) and, for a directory, everything below
// it; the caller may remove a directory's entries only with write and
// search on it.
func (t namespace) removeTree(path string, a *pb.Attr, resp *pb.RemoveResponse) error {
	if a.Dir {
		var children []*pb.Dirent
		var names []string
		err := listDir(t.b, cairn.InodeID(a.Inode), "", func(name string, de *pb.Dirent) (bool, error) {
			children, names = append(children, de), append(names, name)
			return true, nil
		})
		if err != nil {
			return err
		}
		for i, de := range children {
			ca, err := t.attr(cairn.InodeID(de.Inode))
			if err != nil {
				return err
			}
			cpath := path + "/" + names[i]
			if err := t.mayRemove(cpath, a, ca); err != nil {
				return err
			}
			if err := t.removeTree(cpath, ca, resp); err != nil {
				return err
			}
			if err := t.b.Delete(direntKey(cairn.InodeID(a.Inode), names[i]), nil); err != nil {
				return err
			}
		}
		resp.Dirs++
	} else {
		resp.Files++
	}
	return t.removeInode(a)
}

func (t namespace) setAttr(req *pb.SetAttrRequest) (*pb.Attr, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	a, err := resolveAs(t.b, path, t.who)
	if err != nil {
		return nil, cairn.E("setattr", cairn.PathArg(path), err)
	}
	if err := t.setOwner(path, a, req); err != nil {
		return nil, err
	}
	if req.Mode != nil {
		if err := t.chmod(path, a, *req.Mode); err != nil {
			return nil, err
		}
	}
	if req.MtimeNs != nil && !t.who.owns(a) {
		if err := t.who.check("setattr", path, a, permWrite); err != nil {
			return nil, err
		}
	}
	if len(req.SetXattrs) > 0 || len(req.RemoveXattrs) > 0 {
		if err := t.who.check("setattr", path, a, permWrite); err != nil {
			return nil, err
		}
	}
	if req.MtimeNs != nil {
		a.MtimeNs = *req.MtimeNs
	}
	if len(req.SetXattrs) > 0 && a.Xattrs == nil {
		a.Xattrs = map[string]string{}
	}
	maps.Copy(a.Xattrs, req.SetXattrs)
	for _, k := range req.RemoveXattrs {
		delete(a.Xattrs, k)
	}
	a.CtimeNs = t.now
	return a, t.putAttr(a)
}

// wrapInDir replaces the file at req.Path with a new directory of the
// same name holding the file as req.Name. A directory at req.Path is
// answered unchanged (a retry, or a race another writer won).
func (t namespace) wrapInDir(req *pb.WrapInDirRequest) (*pb.Attr, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	if err := cairn.ValidName(req.Name); err != nil {
		return nil, err
	}
	parent, base, err := t.parentDir("wrap-in-dir", path, false)
	if err != nil {
		return nil, err
	}
	de, ok, err := t.dirent(cairn.InodeID(parent.Inode), base)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E("wrap-in-dir", cairn.PathArg(path), cairn.NotFound, errors.New("no such file"))
	}
	if de.Dir {
		return t.attr(cairn.InodeID(de.Inode)) // already a directory
	}
	if err := t.who.check("wrap-in-dir", path, parent, permWrite|permExec); err != nil {
		return nil, err
	}
	fa, err := t.attr(cairn.InodeID(de.Inode))
	if err != nil {
		return nil, err
	}
	if err := t.b.Delete(direntKey(cairn.InodeID(parent.Inode), base), nil); err != nil {
		return nil, err
	}
	dir, err := t.createDir(parent, base, 0o755)
	if err != nil {
		return nil, err
	}
	if err := putProto(t.b, direntKey(cairn.InodeID(dir.Inode), req.Name), &pb.Dirent{Inode: fa.Inode}); err != nil {
		return nil, err
	}
	fa.Parent, fa.Name, fa.CtimeNs = dir.Inode, req.Name, t.now
	return dir, t.putAttr(fa)
}
