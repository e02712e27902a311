package main

import (
	"context"
	"fmt"
	"io"

	"github.com/cairnfs/cairn/client"
)

const quotaUsage = "usage: cairn quota set PATH [--bytes SIZE] [--files N] | cairn quota get PATH | cairn quota clear PATH"

// runQuota is `cairn quota set|get|clear PATH`: directory quotas (setting
// and clearing them takes an admin certificate).
func (a app) runQuota(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef(quotaUsage)
	}
	sub := args[0]
	fs := newFlags("quota " + sub)
	cf := addClientFlags(fs)
	var bytes sizeFlag
	fs.Var(&bytes, "bytes", "set: the most bytes of file content below PATH, e.g. 10GiB (0 = no limit)")
	files := fs.Int64("files", 0, "set: the most files and directories below PATH (0 = no limit)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || (sub != "set" && sub != "get" && sub != "clear") {
		return usagef(quotaUsage)
	}
	if sub == "set" && bytes == 0 && *files == 0 {
		return usagef("quota set needs --bytes or --files (use quota clear to remove a quota)")
	}
	if *files < 0 {
		return usagef("--files %d: want 0 (no limit) or more", *files)
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	var fi *client.FileInfo
	switch sub {
	case "set":
		fi, err = c.Admin().SetQuota(ctx, pos[0], client.Quota{Bytes: int64(bytes), Files: *files})
	case "clear":
		if fi, err = c.Admin().SetQuota(ctx, pos[0], client.Quota{}); err == nil {
			fmt.Fprintf(a.stdout, "%s has no quota\n", fi.Path)
			return nil
		}
	default:
		fi, err = c.Stat(ctx, pos[0])
	}
	if err != nil {
		return err
	}
	printQuota(a.stdout, fi)
	return nil
}

// printQuota writes a directory's quota and usage, or that it has none.
func printQuota(w io.Writer, fi *client.FileInfo) {
	if fi.Quota == nil {
		fmt.Fprintf(w, "%s has no quota (cairn du %s sums what it holds)\n", fi.Path, fi.Path)
		return
	}
	limit := func(used, max int64, show func(int64) string) string {
		if max == 0 {
			return show(used) + " used, no limit"
		}
		return fmt.Sprintf("%s of %s used (%.0f%%)", show(used), show(max), 100*float64(used)/float64(max))
	}
	fmt.Fprintf(w, "quota:       %s\nbytes:       %s\nfiles:       %s\n", fi.Path,
		limit(fi.Usage.Bytes, fi.Quota.Bytes, human), limit(fi.Usage.Files, fi.Quota.Files, func(n int64) string { return fmt.Sprint(n) }))
}

// runDu is `cairn du PATH...`: bytes and entries below each path, from
// quota counters where a directory has them, else by listing the tree.
func (a app) runDu(ctx context.Context, args []string) error {
	fs := newFlags("du")
	cf := addClientFlags(fs)
	h := fs.Bool("h", false, "print sizes in powers of 1024 (KiB, MiB, ...)")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("du takes one or more remote paths")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range paths {
		u, err := c.DiskUsage(ctx, p)
		if err != nil {
			return err
		}
		size := fmt.Sprint(u.Bytes)
		if *h {
			size = human(u.Bytes)
		}
		fmt.Fprintf(a.stdout, "%s\t%d\t%s\n", size, u.Files, p)
	}
	return nil
}
