package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"text/tabwriter"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
)

func runLs(ctx context.Context, args []string) error {
	fs := newFlags("ls")
	cf := addClientFlags(fs)
	long := fs.Bool("l", false, "long format: mode, owner, group, size, mtime, crc32c")
	recursive := fs.Bool("r", false, "list subdirectories recursively")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dirs = []string{"/"}
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for _, d := range dirs {
		fi, err := c.Stat(ctx, d)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			printEntry(tw, fi, *long, fi.Path)
			continue
		}
		if err := listTree(ctx, c, tw, fi.Path, *long, *recursive, len(dirs) > 1 || *recursive); err != nil {
			return err
		}
	}
	return nil
}

func listTree(ctx context.Context, c *client.Client, tw *tabwriter.Writer, dir string, long, recursive, header bool) error {
	var subdirs []string
	if header {
		fmt.Fprintf(tw, "%s:\n", dir)
	}
	for fi, err := range c.List(ctx, dir, client.ListOptions{}) {
		if err != nil {
			return err
		}
		name := fi.Name()
		if fi.IsDir() {
			name += "/"
			subdirs = append(subdirs, fi.Path)
		}
		printEntry(tw, fi, long, name)
	}
	if recursive {
		for _, s := range subdirs {
			fmt.Fprintln(tw)
			if err := listTree(ctx, c, tw, s, long, true, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func printEntry(tw *tabwriter.Writer, fi *client.FileInfo, long bool, name string) {
	if !long {
		fmt.Fprintln(tw, name)
		return
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%08x\t%s\n", fi.Mode(), fi.Owner, fi.Group, fi.Size(), fi.ModTime().Format("2006-01-02 15:04:05"), fi.CRC32C, name)
}

func runStat(ctx context.Context, args []string) error {
	fs := newFlags("stat")
	cf := addClientFlags(fs)
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("stat takes one or more remote paths")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range fs.Args() {
		fi, err := c.Stat(ctx, p)
		if err != nil {
			return err
		}
		kind := "file"
		if fi.IsDir() {
			kind = "directory"
		}
		fmt.Printf("path:        %s\ntype:        %s\nsize:        %d (%s)\nmode:        %s\nowner:       %s (uid %d)\ngroup:       %s (gid %d)\nmodified:    %s\ninode:       %d\n",
			fi.Path, kind, fi.Size(), human(fi.Size()), fi.Mode(), fi.Owner, fi.UID, fi.Group, fi.GID, fi.ModTime().Format("2006-01-02T15:04:05.000000000Z07:00"), fi.Inode)
		if !fi.IsDir() {
			fmt.Printf("crc32c:      %08x\nversion:     %d\nchunks:      %d\nchunk size:  %d\nreplication: %d\n", fi.CRC32C, fi.Version, fi.Chunks, fi.ChunkSize, fi.Replication)
		}
		for k, v := range fi.Xattrs {
			fmt.Printf("xattr:       %s=%s\n", k, v)
		}
		if fi.Quota != nil {
			printQuota(os.Stdout, fi)
		}
	}
	return nil
}

func runRm(ctx context.Context, args []string) error {
	fs := newFlags("rm")
	cf := addClientFlags(fs)
	recursive := fs.Bool("r", false, "remove directories and their contents")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("rm takes one or more remote paths")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range fs.Args() {
		if _, err := c.Remove(ctx, p, client.RemoveOptions{Recursive: *recursive}); err != nil {
			return err
		}
	}
	return nil
}

func runMv(ctx context.Context, args []string) error {
	fs := newFlags("mv")
	cf := addClientFlags(fs)
	noClobber := fs.Bool("n", false, "do not replace an existing destination")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("mv takes a source and a destination")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	src, dst := fs.Arg(0), fs.Arg(1)
	if fi, err := c.Stat(ctx, dst); err == nil && fi.IsDir() {
		dst = path.Join(fi.Path, path.Base(src))
	} else if err != nil && cairn.KindOf(err) != cairn.NotFound {
		return err
	}
	return c.Rename(ctx, src, dst, client.RenameOptions{NoReplace: *noClobber})
}

func runMkdir(ctx context.Context, args []string) error {
	fs := newFlags("mkdir")
	cf := addClientFlags(fs)
	parents := fs.Bool("p", false, "create parent directories as needed; no error if it exists")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("mkdir takes one or more remote paths")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range fs.Args() {
		if _, err := c.Mkdir(ctx, p, client.MkdirOptions{Parents: *parents}); err != nil {
			return err
		}
	}
	return nil
}

func runLocate(ctx context.Context, args []string) error {
	fs := newFlags("locate")
	cf := addClientFlags(fs)
	offset := fs.Int64("offset", 0, "first byte")
	length := fs.Int64("length", -1, "bytes (-1 = to the end)")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("locate takes one remote path")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	blocks, err := c.Locations(ctx, fs.Arg(0), *offset, *length)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintln(tw, "OFFSET\tLENGTH\tNODES\tHOSTS")
	for _, b := range blocks {
		fmt.Fprintf(tw, "%d\t%d\t%v\t%v\n", b.Offset, b.Length, b.Nodes, b.Hosts)
	}
	return nil
}
