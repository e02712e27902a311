package client

import (
	"context"
	"github.com/cairnfs/cairn"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// FS returns the namespace as an io/fs.FS (also fs.StatFS, fs.ReadDirFS and
// fs.ReadFileFS). Names are unrooted, slash-separated paths as io/fs wants
// them ("a/b.txt" is /a/b.txt); "." is the root.
func (c *Client) FS(ctx context.Context) fs.FS { return &nsFS{c: c, ctx: ctx} }

type nsFS struct {
	c   *Client
	ctx context.Context
}

func (n *nsFS) abs(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "/", nil
	}
	return "/" + name, nil
}

func pathErr(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: name, Err: toFSErr(err)}
}

// toFSErr keeps the Cairn error but makes errors.Is(err, fs.ErrNotExist)
// and friends work.
func toFSErr(err error) error {
	switch cairn.KindOf(err) {
	case cairn.NotFound:
		return &fsErr{err, fs.ErrNotExist}
	case cairn.Exists:
		return &fsErr{err, fs.ErrExist}
	case cairn.Invalid:
		return &fsErr{err, fs.ErrInvalid}
	case cairn.Permission:
		return &fsErr{err, fs.ErrPermission}
	}
	return err
}

type fsErr struct {
	err  error
	kind error
}

func (e *fsErr) Error() string   { return e.err.Error() }
func (e *fsErr) Unwrap() []error { return []error{e.err, e.kind} }

func (n *nsFS) Open(name string) (fs.File, error) {
	p, err := n.abs("open", name)
	if err != nil {
		return nil, err
	}
	fi, err := n.c.Stat(n.ctx, p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	if fi.IsDir() {
		return &dirFile{fs: n, path: p, info: fi}, nil
	}
	f, err := n.c.Open(n.ctx, p)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	return &fsFile{f}, nil
}

func (n *nsFS) Stat(name string) (fs.FileInfo, error) {
	p, err := n.abs("stat", name)
	if err != nil {
		return nil, err
	}
	fi, err := n.c.Stat(n.ctx, p)
	if err != nil {
		return nil, pathErr("stat", name, err)
	}
	return fi, nil
}

func (n *nsFS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := n.abs("readdir", name)
	if err != nil {
		return nil, err
	}
	list, err := n.c.ReadDir(n.ctx, p)
	if err != nil {
		return nil, pathErr("readdir", name, err)
	}
	out := make([]fs.DirEntry, len(list))
	for i, fi := range list {
		out[i] = fs.FileInfoToDirEntry(fi)
	}
	return out, nil
}

func (n *nsFS) ReadFile(name string) ([]byte, error) {
	f, err := n.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, ok := f.(*dirFile); ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrInvalid}
	}
	return io.ReadAll(f)
}

// fsFile adapts File to fs.File (whose Stat returns fs.FileInfo).
type fsFile struct{ *File }

func (f *fsFile) Stat() (fs.FileInfo, error) { return f.info, nil }

type dirFile struct {
	fs      *nsFS
	path    string
	info    *FileInfo
	entries []fs.DirEntry
	loaded  bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.path, Err: fs.ErrInvalid}
}
func (d *dirFile) Close() error { return nil }

func (d *dirFile) ReadDir(count int) ([]fs.DirEntry, error) {
	if !d.loaded {
		list, err := d.fs.c.ReadDir(d.fs.ctx, d.path)
		if err != nil {
			return nil, err
		}
		for _, fi := range list {
			d.entries = append(d.entries, fs.FileInfoToDirEntry(fi))
		}
		slices.SortFunc(d.entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		d.loaded = true
	}
	if count <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	k := min(count, len(d.entries))
	out := d.entries[:k]
	d.entries = d.entries[k:]
	return out, nil
}
