package state

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Directory quotas. A directory with a quota has a record in the q table
// with its limits and the usage of everything below it: the logical size
// of every file (bytes) and the number of files and directories (files;
// the directory itself is not counted). Only directories with a quota hold
// counters. Every command that changes the tree walks the ancestors of
// the directory it changes, adjusts the record of each that has a quota,
// and refuses, with QuotaExceeded and before writing anything, a change
// that would take any of them over a limit. Changes that only shrink
// usage are never refused, so a tree set over its limit can always be
// cleaned up. The count of quotas in the m table lets a cluster without
// quotas skip the walk.

// usage is what a subtree holds: logical bytes and files plus directories.
type usage struct{ bytes, files int64 }

func (u usage) neg() usage { return usage{-u.bytes, -u.files} }

// quotaDir is a directory with a quota, as read for one command.
type quotaDir struct {
	ino cairn.InodeID
	rec *pb.QuotaRecord
}

// quotaCount is how many directories have a quota.
func (t *tx) quotaCount() (uint64, error) { return getUint64(t.b, []byte(keyQuotas)) }

// quotaChain returns the directories with a quota among dir and its
// ancestors, nearest first. It reads nothing when no directory has a
// quota.
func (t *tx) quotaChain(dir *pb.Attr) ([]quotaDir, error) {
	n, err := t.quotaCount()
	if err != nil || n == 0 {
		return nil, err
	}
	var out []quotaDir
	for a := dir; ; {
		rec := &pb.QuotaRecord{}
		ok, err := getProto(t.b, quotaKey(cairn.InodeID(a.Inode)), rec)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, quotaDir{cairn.InodeID(a.Inode), rec})
		}
		if a.Inode == uint64(cairn.RootInode) {
			return out, nil
		}
		if a, err = t.attr(cairn.InodeID(a.Parent)); err != nil {
			return nil, err
		}
	}
}

// chargeQuota adds d, the change of entry name in dir, to the usage of
// every quota at or above dir, or refuses with QuotaExceeded (writing
// nothing) when a growing dimension would pass a limit.
func (t *tx) chargeQuota(op string, dir *pb.Attr, name string, d usage) error {
	if d == (usage{}) {
		return nil
	}
	chain, err := t.quotaChain(dir)
	if err != nil {
		return err
	}
	return t.applyQuota(op, func() string { return joinPath(pathOf(t.b, cairn.InodeID(dir.Inode)), name) }, chain, d)
}

func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// constPath is the path of an error when it is known up front.
func constPath(p string) func() string { return func() string { return p } }

// applyQuota checks d against every record of chain, then adds it.
func (t *tx) applyQuota(op string, path func() string, chain []quotaDir, d usage) error {
	if d == (usage{}) {
		return nil
	}
	if err := t.fitsAll(op, path, chain, d); err != nil {
		return err
	}
	for _, q := range chain {
		q.rec.UsedBytes += d.bytes
		q.rec.UsedFiles += d.files
		if err := putProto(t.b, quotaKey(q.ino), q.rec); err != nil {
			return err
		}
	}
	return nil
}

// fitsAll is fits for every record of chain.
func (t *tx) fitsAll(op string, path func() string, chain []quotaDir, d usage) error {
	for _, q := range chain {
		if err := t.fits(op, path, q, d); err != nil {
			return err
		}
	}
	return nil
}

// fits returns QuotaExceeded when adding d to q passes one of its limits
// in a dimension that grows.
func (t *tx) fits(op string, path func() string, q quotaDir, d usage) error {
	r := q.rec
	var what string
	switch {
	case d.bytes > 0 && r.LimitBytes > 0 && r.UsedBytes+d.bytes > r.LimitBytes:
		what = fmt.Sprintf("%d bytes allowed, %d used, this adds %d", r.LimitBytes, r.UsedBytes, d.bytes)
	case d.files > 0 && r.LimitFiles > 0 && r.UsedFiles+d.files > r.LimitFiles:
		what = fmt.Sprintf("%d files and directories allowed, %d used, this adds %d", r.LimitFiles, r.UsedFiles, d.files)
	default:
		return nil
	}
	return cairn.E(op, cairn.PathArg(path()), cairn.QuotaExceeded,
		fmt.Errorf("over the quota of %s (%s); remove entries below it or raise its quota (cairn quota set)", orRoot(pathOf(t.b, q.ino)), what))
}

// checkQuota is chargeQuota without the charge, for writes announced
// before their commit: whether d, the bytes about to be written to path,
// would fit below the nearest existing directory of path. When the write
// replaces, a file already at path is credited with its size. A missing
// path is left to the command that creates it.
func (t *tx) checkQuota(op, path string, d usage, replaces bool) error {
	n, err := t.quotaCount()
	if err != nil || n == 0 {
		return err
	}
	if old, err := resolve(t.b, path); replaces && err == nil && !old.Dir {
		d.bytes -= old.Size
	}
	dir, err := t.nearestDir(path)
	if err != nil {
		return err
	}
	chain, err := t.quotaChain(dir)
	if err != nil {
		return err
	}
	return t.fitsAll(op, constPath(path), chain, d)
}

// nearestDir returns the deepest existing directory on path's way to its
// parent (the root if nothing below it exists).
func (t *tx) nearestDir(path string) (*pb.Attr, error) {
	cur, err := t.attr(cairn.RootInode)
	if err != nil {
		return nil, err
	}
	dir, _ := cairn.ParentPath(path)
	for _, name := range cairn.SplitPath(dir) {
		de, ok, err := t.dirent(cairn.InodeID(cur.Inode), name)
		if err != nil {
			return nil, err
		}
		if !ok || !de.Dir {
			break
		}
		if cur, err = t.attr(cairn.InodeID(de.Inode)); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// subtreeUsage is what a holds including itself: its size, or for a
// directory one entry plus everything below it. A directory with a quota
// answers from its record without walking.
func subtreeUsage(r reader, a *pb.Attr) (usage, error) {
	if !a.Dir {
		return usage{a.Size, 1}, nil
	}
	rec := &pb.QuotaRecord{}
	ok, err := getProto(r, quotaKey(cairn.InodeID(a.Inode)), rec)
	if err != nil {
		return usage{}, err
	}
	if ok {
		return usage{rec.UsedBytes, rec.UsedFiles + 1}, nil
	}
	below, err := countBelow(r, cairn.InodeID(a.Inode))
	return usage{below.bytes, below.files + 1}, err
}

// countBelow walks directory ino: the usage of everything below it.
func countBelow(r reader, ino cairn.InodeID) (usage, error) {
	c, err := newTreeCounter(r)
	if err != nil {
		return usage{}, err
	}
	defer c.close()
	return c.below(r, ino)
}

// treeCounter counts trees with one iterator over the inode table and one
// over the quota table, reused for every lookup: a point Get on an
// indexed batch builds an iterator of its own, which made counting a
// large tree several times slower.
type treeCounter struct{ attrs, quotas *pebble.Iterator }

func newTreeCounter(r reader) (*treeCounter, error) {
	attrs, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{tagInode}, UpperBound: []byte{tagInode + 1}})
	if err != nil {
		return nil, cairn.E("quota.count", cairn.Internal, err)
	}
	quotas, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{tagQuota}, UpperBound: []byte{tagQuota + 1}})
	if err != nil {
		attrs.Close()
		return nil, cairn.E("quota.count", cairn.Internal, err)
	}
	return &treeCounter{attrs, quotas}, nil
}

func (c *treeCounter) close() {
	c.attrs.Close()
	c.quotas.Close()
}

// seek decodes the value at key into m; false if key is absent.
func seek(it *pebble.Iterator, key []byte, m proto.Message) (bool, error) {
	if !it.SeekGE(key) || !bytes.Equal(it.Key(), key) {
		return false, it.Error()
	}
	if err := proto.Unmarshal(it.Value(), m); err != nil {
		return false, cairn.E("quota.count", cairn.Internal, fmt.Errorf("decoding key %q: %w", key, err))
	}
	return true, nil
}

// below is the usage of everything below directory ino; a directory with
// a quota answers from its record.
func (c *treeCounter) below(r reader, ino cairn.InodeID) (usage, error) {
	var u usage
	err := listDir(r, ino, "", func(_ string, de *pb.Dirent) (bool, error) {
		u.files++
		if !de.Dir {
			a := &pb.Attr{}
			ok, err := seek(c.attrs, inodeKey(cairn.InodeID(de.Inode)), a)
			if err == nil && !ok {
				err = cairn.E("quota.count", cairn.Internal, fmt.Errorf("entry for inode %d, which has no record", de.Inode))
			}
			u.bytes += a.Size
			return err == nil, err
		}
		rec := &pb.QuotaRecord{}
		ok, err := seek(c.quotas, quotaKey(cairn.InodeID(de.Inode)), rec)
		if err != nil {
			return false, err
		}
		sub := usage{rec.UsedBytes, rec.UsedFiles}
		if !ok {
			if sub, err = c.below(r, cairn.InodeID(de.Inode)); err != nil {
				return false, err
			}
		}
		u.bytes += sub.bytes
		u.files += sub.files
		return true, nil
	})
	return u, err
}

// quotaRename moves the usage of sa from its old parent's quotas to
// dparent's, less what the replaced entry (nil if none; a file or an
// empty directory) held. Quotas above both places only lose the replaced
// entry, so the moved tree is counted only when a quota lies on one side
// alone. It refuses, writing nothing, when the destination would pass a
// limit.
func (t *tx) quotaRename(dst string, sa, dparent, replaced *pb.Attr) error {
	n, err := t.quotaCount()
	if err != nil || n == 0 {
		return err
	}
	sparent, err := t.attr(cairn.InodeID(sa.Parent))
	if err != nil {
		return err
	}
	src, err := t.quotaChain(sparent)
	if err != nil {
		return err
	}
	dstChain, err := t.quotaChain(dparent)
	if err != nil {
		return err
	}
	inSrc := map[cairn.InodeID]bool{}
	for _, q := range src {
		inSrc[q.ino] = true
	}
	var onlyDst, both []quotaDir
	for _, q := range dstChain {
		if inSrc[q.ino] {
			both = append(both, q)
			delete(inSrc, q.ino)
		} else {
			onlyDst = append(onlyDst, q)
		}
	}
	var onlySrc []quotaDir
	for _, q := range src {
		if inSrc[q.ino] {
			onlySrc = append(onlySrc, q)
		}
	}
	var gone usage
	if replaced != nil {
		gone = usage{files: 1}
		if !replaced.Dir {
			gone.bytes = replaced.Size
		}
	}
	var moved usage
	if len(onlySrc)+len(onlyDst) > 0 {
		if moved, err = subtreeUsage(t.b, sa); err != nil {
			return err
		}
	}
	in := usage{moved.bytes - gone.bytes, moved.files - gone.files}
	at := constPath(dst)
	if err := t.applyQuota("rename", at, onlyDst, in); err != nil {
		return err
	}
	if err := t.applyQuota("rename", at, onlySrc, moved.neg()); err != nil {
		return err
	}
	return t.applyQuota("rename", at, both, gone.neg())
}

// chargeCommit charges a commit of req to file a (nil for a new file)
// named name in parent.
func (t *tx) chargeCommit(parent *pb.Attr, name string, a *pb.Attr, req *pb.CommitRequest) error {
	d := usage{}
	for _, sc := range req.Chunks {
		d.bytes += sc.GetChunk().GetLength()
	}
	if a == nil {
		d.files = 1
	} else if req.Mode != pb.CommitMode_COMMIT_APPEND {
		d.bytes -= a.Size
	}
	return t.chargeQuota("commit", parent, name, d)
}

// releaseQuota takes what a and everything below it hold off the quotas
// above it, before it is removed.
func (t *tx) releaseQuota(a *pb.Attr) error {
	n, err := t.quotaCount()
	if err != nil || n == 0 {
		return err
	}
	parent, err := t.attr(cairn.InodeID(a.Parent))
	if err != nil {
		return err
	}
	chain, err := t.quotaChain(parent)
	if err != nil || len(chain) == 0 {
		return err
	}
	u, err := subtreeUsage(t.b, a)
	if err != nil {
		return err
	}
	return t.applyQuota("remove", constPath(""), chain, u.neg())
}

// dropQuota forgets the quota of a directory being removed.
func (t *tx) dropQuota(ino cairn.InodeID) error {
	n, err := t.quotaCount()
	if err != nil || n == 0 {
		return err
	}
	ok, err := getProto(t.b, quotaKey(ino), &pb.QuotaRecord{})
	if err != nil || !ok {
		return err
	}
	if err := t.b.Delete(quotaKey(ino), nil); err != nil {
		return err
	}
	return putUint64(t.b, []byte(keyQuotas), n-1)
}

// quotas applies SetQuota.
type quotas struct{ *tx }

// set sets, changes or (both limits 0) removes the quota of a directory.
// A new quota counts the tree below it once; a changed one keeps its
// counters.
func (t quotas) set(req *pb.SetQuotaRequest) (*pb.Attr, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	if req.Bytes < 0 || req.Files < 0 {
		return nil, cairn.E("quota", cairn.PathArg(path), cairn.Invalid, fmt.Errorf("limits must not be negative (bytes %d, files %d); 0 means no limit", req.Bytes, req.Files))
	}
	a, err := resolve(t.b, path)
	if err != nil {
		return nil, cairn.E("quota", cairn.PathArg(path), err)
	}
	if !a.Dir {
		return nil, cairn.E("quota", cairn.PathArg(path), cairn.NotDir, errors.New("quotas are set on directories"))
	}
	ino := cairn.InodeID(a.Inode)
	rec := &pb.QuotaRecord{}
	had, err := getProto(t.b, quotaKey(ino), rec)
	if err != nil {
		return nil, err
	}
	n, err := t.quotaCount()
	if err != nil {
		return nil, err
	}
	if req.Bytes == 0 && req.Files == 0 {
		if had {
			if err := t.b.Delete(quotaKey(ino), nil); err != nil {
				return nil, err
			}
			return a, putUint64(t.b, []byte(keyQuotas), n-1)
		}
		return a, nil
	}
	if !had {
		u, err := countBelow(t.b, ino)
		if err != nil {
			return nil, err
		}
		rec.UsedBytes, rec.UsedFiles = u.bytes, u.files
		if err := putUint64(t.b, []byte(keyQuotas), n+1); err != nil {
			return nil, err
		}
	}
	rec.LimitBytes, rec.LimitFiles = req.Bytes, req.Files
	withQuota(a, rec)
	return a, putProto(t.b, quotaKey(ino), rec)
}

// withQuota copies a quota record into a directory's attributes.
func withQuota(a *pb.Attr, rec *pb.QuotaRecord) {
	a.QuotaBytes, a.QuotaFiles = rec.LimitBytes, rec.LimitFiles
	a.UsedBytes, a.UsedFiles = rec.UsedBytes, rec.UsedFiles
}

// addQuota fills in a directory's quota and usage, if it has a quota.
func addQuota(r reader, a *pb.Attr, err error) (*pb.Attr, error) {
	if err != nil || !a.Dir {
		return a, err
	}
	rec := &pb.QuotaRecord{}
	ok, err := getProto(r, quotaKey(cairn.InodeID(a.Inode)), rec)
	if ok {
		withQuota(a, rec)
	}
	return a, err
}
