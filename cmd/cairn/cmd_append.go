package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func runAppend(ctx context.Context, args []string) error {
	fs := newFlags("append")
	cf := addClientFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: cairn append [flags] <remote path> [local file]  (standard input when no file)")
		fs.PrintDefaults()
	}
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return usagef("append takes a remote path and optionally a local file")
	}
	var in io.Reader = os.Stdin
	if fs.NArg() == 2 {
		f, err := os.Open(fs.Arg(1))
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	w, err := c.Append(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if _, err := w.ReadFrom(in); err != nil {
		return fmt.Errorf("reading input: %w (nothing was appended)", err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	fi := w.Info()
	fmt.Printf("%s  now %s\n", fi.Path, human(fi.Size()))
	return nil
}
