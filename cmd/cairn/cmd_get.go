package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/cairnfs/cairn"
)

func runGet(ctx context.Context, args []string) error {
	fs := newFlags("get")
	cf := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cairn get [flags] <remote path> [local file or dir]")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return usagef("get takes a remote path and optionally a local destination")
	}
	remote := fs.Arg(0)
	local := path.Base(remote)
	if fs.NArg() == 2 {
		local = fs.Arg(1)
		if st, err := os.Stat(local); err == nil && st.IsDir() {
			local = filepath.Join(local, path.Base(remote))
		}
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	f, err := c.Open(ctx, remote)
	if err != nil {
		return err
	}
	// Download to a temporary file and rename, so a failed download never
	// leaves a partial file under the final name.
	tmp, err := os.CreateTemp(filepath.Dir(local), "."+filepath.Base(local)+".cairn-*")
	if err != nil {
		return cairn.E("get", cairn.PathArg(local), err)
	}
	defer os.Remove(tmp.Name())
	n, err := f.WriteTo(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return err
	}
	fmt.Printf("%s -> %s  %s\n", remote, local, human(n))
	return nil
}

func runCat(ctx context.Context, args []string) error {
	fs := newFlags("cat")
	cf := addClientFlags(fs)
	offset := fs.Int64("offset", 0, "start at this byte")
	length := fs.Int64("length", -1, "read at most this many bytes (-1 = to the end)")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("cat takes one or more remote paths")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range fs.Args() {
		f, err := c.Open(ctx, p)
		if err != nil {
			return err
		}
		if _, err := f.Seek(*offset, io.SeekStart); err != nil {
			return err
		}
		var w io.Writer = os.Stdout
		if *length >= 0 {
			w = &limitWriter{w: os.Stdout, n: *length}
		}
		if _, err := f.WriteTo(w); err != nil && err != errLimit {
			return err
		}
	}
	return nil
}

var errLimit = fmt.Errorf("limit reached")

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.n {
		n, err := l.w.Write(p[:l.n])
		l.n -= int64(n)
		if err == nil {
			err = errLimit
		}
		return n, err
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	return n, err
}
