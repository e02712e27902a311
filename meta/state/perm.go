package state

import (
	"fmt"
	"io/fs"
	"slices"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// POSIX permissions, checked for the principal a command or read acts as.
// The rules are Linux's:
//
//   - resolving a path needs search (x) on every directory walked;
//   - creating, removing or renaming an entry needs write and search
//     (w+x) on its directory (both directories for a rename); in a sticky
//     directory only the entry's owner, the directory's owner or the
//     superuser may remove or rename it; moving a directory to another
//     parent also needs write on it (its ".." changes);
//   - listing needs read on the directory, reading content read on the
//     file, writing content write on the file;
//   - chmod is for the owner; chown for the superuser; the owner may
//     change the group to one it belongs to;
//   - a write by anyone but the superuser clears setuid (and setgid when
//     the group may execute); chown of a file clears both; chmod by a
//     non-member of the file's group drops setgid;
//   - new entries belong to the caller, their group is the directory's
//     when it has setgid (and new directories inherit setgid), else the
//     caller's primary group;
//   - the superuser (uid 0, or a command with no caller) may do all this.
//
// A refusal is Permission, naming the caller, what it lacked and where.

// Permission bits asked for.
const (
	permRead  = 4
	permWrite = 2
	permExec  = 1
)

// principal is who a command or read acts as; the zero value (no
// caller) is the superuser.
type principal struct{ c *pb.Caller }

func (p principal) super() bool { return p.c == nil || p.c.Uid == 0 }

func (p principal) uid() uint32 { return p.c.GetUid() }

func (p principal) inGroup(gid uint32) bool {
	return p.c.GetGid() == gid || slices.Contains(p.c.GetGroups(), gid)
}

func (p principal) owns(a *pb.Attr) bool { return p.super() || p.c.Uid == a.Uid }

// may reports whether p has every bit of want (rwx as 4/2/1) on a.
func (p principal) may(a *pb.Attr, want uint32) bool {
	if p.super() {
		return true
	}
	var bits uint32
	switch {
	case p.c.Uid == a.Uid:
		bits = a.Mode >> 6 & 7
	case p.inGroup(a.Gid):
		bits = a.Mode >> 3 & 7
	default:
		bits = a.Mode & 7
	}
	return bits&want == want
}

func (p principal) String() string {
	switch {
	case p.super():
		return RootName
	case p.c.Name != "":
		return fmt.Sprintf("%s (uid %d)", p.c.Name, p.c.Uid)
	}
	return fmt.Sprintf("uid %d", p.c.Uid)
}

// check returns Permission unless p has want on a (at path).
func (p principal) check(op, path string, a *pb.Attr, want uint32) error {
	if p.may(a, want) {
		return nil
	}
	return p.refuse(op, path, a, fmt.Sprintf("lacks %s permission on", wantName(want)))
}

func (p principal) refuse(op, path string, a *pb.Attr, what string) error {
	// The message names the path; callers that wrap it add their own.
	return cairn.E(op, cairn.Permission, fmt.Errorf("%s %s %s (mode %s, owner uid %d, group gid %d)",
		p, what, orRoot(path), ModeString(a), a.Uid, a.Gid))
}

// mayRemoveFrom is the sticky-bit rule: may p remove or rename entry e
// of directory dir?
func (p principal) mayRemoveFrom(dir, e *pb.Attr) bool {
	return dir.Mode&0o1000 == 0 || p.super() || p.c.Uid == e.Uid || p.c.Uid == dir.Uid
}

func wantName(want uint32) string {
	s := ""
	for _, b := range []struct {
		bit  uint32
		name string
	}{{permRead, "read"}, {permWrite, "write"}, {permExec, "search"}} {
		if want&b.bit != 0 {
			if s != "" {
				s += "+"
			}
			s += b.name
		}
	}
	return s
}

// ModeString renders a's mode as ls -l does ("drwxr-sr-x").
func ModeString(a *pb.Attr) string {
	m := fs.FileMode(a.Mode & 0o777)
	if a.Dir {
		m |= fs.ModeDir
	}
	if a.Mode&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if a.Mode&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if a.Mode&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m.String()
}

// newOwner sets the owner and group of a new entry in directory parent,
// and passes on a setgid directory's setgid bit to new directories.
func (p principal) newOwner(parent, a *pb.Attr) {
	a.Uid, a.Gid = p.uid(), p.c.GetGid()
	if parent.Mode&0o2000 != 0 {
		a.Gid = parent.Gid
		if a.Dir {
			a.Mode |= 0o2000
		}
	}
}

// wrote clears what a write by p clears on file a: setuid, and setgid
// when the group may execute.
func (p principal) wrote(a *pb.Attr) {
	if p.super() {
		return
	}
	a.Mode &^= 0o4000
	if a.Mode&0o010 != 0 {
		a.Mode &^= 0o2000
	}
}

// resolveAs walks a clean path from the root as p resolves it: it needs
// search on every directory walked. It returns the attributes of the
// final component, or NotFound, NotDir or Permission naming the
// component that failed.
func resolveAs(r reader, path string, p principal) (*pb.Attr, error) {
	cur, err := getAttr(r, cairn.RootInode)
	if cairn.KindOf(err) == cairn.NotFound {
		cur, err = rootAttr(), nil
	}
	if err != nil {
		return nil, err
	}
	walked := ""
	for _, name := range cairn.SplitPath(path) {
		if !cur.Dir {
			return nil, cairn.E(cairn.NotDir, fmt.Errorf("%s is a file", orRoot(walked)))
		}
		if err := p.check("", walked, cur, permExec); err != nil {
			return nil, err
		}
		walked += "/" + name
		de := &pb.Dirent{}
		ok, err := getProto(r, direntKey(cairn.InodeID(cur.Inode), name), de)
		if err != nil {
			return nil, err
		}
		if !ok {
			if walked == path {
				return nil, cairn.E(cairn.NotFound, fmt.Errorf("no such file or directory"))
			}
			return nil, cairn.E(cairn.NotFound, fmt.Errorf("%s does not exist", walked))
		}
		if cur, err = getAttr(r, cairn.InodeID(de.Inode)); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// Access is what a read may need of its target.
type Access uint32

// The accesses reads ask for.
const (
	AccessNone  Access = 0
	AccessRead  Access = permRead
	AccessWrite Access = permWrite
)

// StatAs resolves path as caller would (search on every directory of the
// path) and checks that it has access on the target. A nil caller is the
// superuser. Errors are NotFound, NotDir or Permission. A directory with
// a quota comes with its limits and usage, as from Stat.
func (v *View) StatAs(path string, caller *pb.Caller, access Access) (*pb.Attr, error) {
	p := principal{caller}
	a, err := resolveAs(v.r, path, p)
	if err != nil {
		return nil, err
	}
	if access != AccessNone {
		if err := p.check("", path, a, uint32(access)); err != nil {
			return nil, err
		}
	}
	return addQuota(v.r, a, nil)
}

// Owns reports whether caller is uid or the superuser (nil is).
func Owns(caller *pb.Caller, uid uint32) bool {
	p := principal{caller}
	return p.super() || p.c.Uid == uid
}

// mayRemove checks that the command's caller may remove entry a (at
// path) from directory parent: write and search on parent, and the
// sticky-bit rule.
func (t *tx) mayRemove(path string, parent, a *pb.Attr) error {
	dir, _ := cairn.ParentPath(path)
	if err := t.who.check("remove", dir, parent, permWrite|permExec); err != nil {
		return err
	}
	if !t.who.mayRemoveFrom(parent, a) {
		return t.who.refuse("remove", dir, parent, "may not remove "+path+", which it does not own, from sticky directory")
	}
	return nil
}

// mayRename checks that the caller may move sa (at src) into directory
// dparent (of dst): it may remove sa from its directory and create in
// dparent, and a directory moving to another parent needs write on
// itself (its ".." changes).
func (t *tx) mayRename(src string, sa *pb.Attr, dst string, dparent *pb.Attr) error {
	sparent, err := t.attr(cairn.InodeID(sa.Parent))
	if err != nil {
		return err
	}
	if err := t.mayRemove(src, sparent, sa); err != nil {
		return err
	}
	ddir, _ := cairn.ParentPath(dst)
	if err := t.who.check("rename", ddir, dparent, permWrite|permExec); err != nil {
		return err
	}
	if sa.Dir && sparent.Inode != dparent.Inode {
		return t.who.check("rename", src, sa, permWrite)
	}
	return nil
}

// setOwner applies a SetAttr's owner and group (by number or by name):
// only the superuser changes the owner; the owner may change the group
// to one it belongs to. A file whose owner or group changes loses setuid
// and setgid.
func (t *tx) setOwner(path string, a *pb.Attr, req *pb.SetAttrRequest) error {
	uid, gid := a.Uid, a.Gid
	if req.Uid != nil {
		uid = *req.Uid
	}
	if req.Gid != nil {
		gid = *req.Gid
	}
	if req.Owner != "" {
		u, err := getUser(t.b, req.Owner)
		if req.Owner == RootName {
			u, err = &pb.User{}, nil
		}
		if err != nil {
			return cairn.E("chown", cairn.PathArg(path), err)
		}
		uid = u.Uid
	}
	if req.Group != "" {
		g, ok, err := getGroup(t.b, req.Group)
		if err != nil {
			return err
		}
		if req.Group == RootName {
			g, ok = &pb.Group{}, true
		}
		if !ok {
			return cairn.E("chown", cairn.PathArg(path), cairn.NotFound, fmt.Errorf("no namespace group %q", req.Group))
		}
		gid = g.Gid
	}
	if uid == a.Uid && gid == a.Gid {
		return nil
	}
	if uid != a.Uid && !t.who.super() {
		return t.who.refuse("chown", path, a, "may not change the owner of (only the superuser may)")
	}
	if gid != a.Gid && !t.who.super() && (!t.who.owns(a) || !t.who.inGroup(gid)) {
		return t.who.refuse("chgrp", path, a, fmt.Sprintf("may not give group gid %d to (only its owner may, to a group it belongs to)", gid))
	}
	a.Uid, a.Gid = uid, gid
	if !a.Dir {
		a.Mode &^= 0o6000
	}
	return nil
}

// chmod applies a SetAttr's mode: only the owner or the superuser may; a
// non-superuser outside the file's group cannot set setgid on a file.
func (t *tx) chmod(path string, a *pb.Attr, mode uint32) error {
	if !t.who.owns(a) {
		return t.who.refuse("chmod", path, a, "may not change the mode of (only its owner may)")
	}
	a.Mode = mode & 0o7777
	if !a.Dir && !t.who.super() && !t.who.inGroup(a.Gid) {
		a.Mode &^= 0o2000
	}
	return nil
}
