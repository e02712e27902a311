package client

import (
	"context"
	"errors"
	"io"
	"iter"
	"path"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// ListOptions page through a directory.
type ListOptions struct {
	StartAfter string // resume after this name
	Limit      int    // stop after this many entries; 0 = all
}

// List streams a directory's entries in byte order of their names. A
// directory with millions of entries is streamed page by page from one
// consistent view; nothing holds the whole listing. Listing a file is a
// NotDir error.
func (c *Client) List(ctx context.Context, dir string, opts ListOptions) iter.Seq2[*FileInfo, error] {
	return func(yield func(*FileInfo, error) bool) {
		p, err := cairn.CleanPath(dir)
		if err != nil {
			yield(nil, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var stream pb.Namespace_ListClient
		err = c.reader(ctx, func(ctx context.Context, m stubs) error {
			s, err := m.ns.List(ctx, &pb.ListRequest{Path: p, StartAfter: opts.StartAfter, Limit: uint32(opts.Limit), Read: c.readOpts()})
			if err != nil {
				return err
			}
			// The first message tells whether this peer can serve.
			first, err := s.Recv()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			stream = &prefetched{Namespace_ListClient: s, first: first, firstErr: err}
			return nil
		})
		if err != nil {
			yield(nil, err)
			return
		}
		for {
			page, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			for _, a := range page.Entries {
				name := path.Join(p, a.Name)
				if !yield(newInfo(name, a), nil) {
					return
				}
			}
		}
	}
}

// prefetched replays the first message of a stream.
type prefetched struct {
	pb.Namespace_ListClient
	first    *pb.ListResponse
	firstErr error
	used     bool
}

func (s *prefetched) Recv() (*pb.ListResponse, error) {
	if !s.used {
		s.used = true
		return s.first, s.firstErr
	}
	return s.Namespace_ListClient.Recv()
}

// ReadDir returns all entries of dir (convenience over List).
func (c *Client) ReadDir(ctx context.Context, dir string) ([]*FileInfo, error) {
	var out []*FileInfo
	for fi, err := range c.List(ctx, dir, ListOptions{}) {
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}
