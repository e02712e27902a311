package client

import (
	"context"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Quota is a directory's limits: Bytes of file content (logical sizes)
// and Files, the number of files and directories below it. 0 means no
// limit of that kind.
type Quota struct {
	Bytes int64
	Files int64
}

// Usage is what lies below a directory: the logical bytes of its files
// and the number of files and directories (the directory itself not
// counted).
type Usage struct {
	Bytes int64
	Files int64
}

// quotaOf reads the quota fields of a directory's attributes.
func quotaOf(a *pb.Attr) (*Quota, *Usage) {
	if !a.Dir || (a.QuotaBytes == 0 && a.QuotaFiles == 0) {
		return nil, nil
	}
	return &Quota{Bytes: a.QuotaBytes, Files: a.QuotaFiles}, &Usage{Bytes: a.UsedBytes, Files: a.UsedFiles}
}

// SetQuota sets the quota of a directory and returns the directory with
// its limits and current usage. A zero Quota removes it. Setting a new
// quota counts the tree below the directory once (a large tree takes a
// moment); changing one keeps its counters. A limit below the current
// usage is accepted: nothing is removed, but writes that would add to the
// tree fail with QuotaExceeded until it is back under the limit.
// Permission unless the caller is an administrator; NotDir for a file;
// NotFound for a missing path.
func (a *Admin) SetQuota(ctx context.Context, path string, q Quota) (*FileInfo, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	var resp *pb.StatResponse
	err = a.c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.ops.SetQuota(ctx, &pb.SetQuotaRequest{Path: p, Bytes: q.Bytes, Files: q.Files})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(p, resp.Attr), nil
}

// DiskUsage sums what lies below path (for a file: its own size and 1).
// A directory with a quota answers from its counters at once; below any
// other directory DiskUsage lists the tree, taking the counters of
// directories with quotas it meets instead of descending into them.
func (c *Client) DiskUsage(ctx context.Context, path string) (Usage, error) {
	fi, err := c.Stat(ctx, path)
	if err != nil {
		return Usage{}, err
	}
	if !fi.IsDir() {
		return Usage{Bytes: fi.Size(), Files: 1}, nil
	}
	if fi.Usage != nil {
		return *fi.Usage, nil
	}
	return c.walkUsage(ctx, fi.Path)
}

func (c *Client) walkUsage(ctx context.Context, dir string) (Usage, error) {
	var u Usage
	for fi, err := range c.List(ctx, dir, ListOptions{}) {
		if err != nil {
			return u, err
		}
		u.Files++
		switch {
		case !fi.IsDir():
			u.Bytes += fi.Size()
		case fi.Usage != nil:
			u.Bytes += fi.Usage.Bytes
			u.Files += fi.Usage.Files
		default:
			below, err := c.walkUsage(ctx, fi.Path)
			if err != nil {
				return u, err
			}
			u.Bytes += below.Bytes
			u.Files += below.Files
		}
	}
	return u, nil
}
