package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// PutOptions tune PutFile.
type PutOptions struct {
	WriteOptions
	// Resume continues an earlier upload of the same local file (same size
	// and modification time) to the same path: chunks that already landed
	// are checked against the local bytes and skipped.
	Resume bool
	// Progress, if set, is called after each chunk with bytes done and total.
	Progress func(done, total int64)
	// Resumed, if set, is called when an earlier session is found, with the
	// number of chunks it already holds and the total.
	Resumed func(landed, total int64)
}

// PutFile uploads a local file to path through an upload session: chunks go
// up in parallel, each is recorded in the session as it lands, and the file
// appears atomically when all are there. If the client dies, PutFile with
// Resume continues where it stopped.
func (c *Client) PutFile(ctx context.Context, local, path string, opts PutOptions) (*FileInfo, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(local)
	if err != nil {
		kind := cairn.Other
		switch {
		case errors.Is(err, os.ErrNotExist):
			kind = cairn.NotFound
		case errors.Is(err, os.ErrPermission):
			kind = cairn.Permission
		}
		return nil, cairn.E("put", kind, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, cairn.E("put", cairn.PathArg(local), err)
	}
	if st.IsDir() {
		return nil, cairn.E("put", cairn.PathArg(local), cairn.IsDir, errors.New("is a directory"))
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = c.opts.ChunkSize
	}
	if opts.Replication == 0 {
		opts.Replication = c.opts.Replication
	}
	size := st.Size()
	fingerprint := fmt.Sprintf("size=%d mtime=%d", size, st.ModTime().UnixNano())
	sess, err := c.session(ctx, p, fingerprint, size, opts)
	if err != nil {
		return nil, err
	}
	count := (size + opts.ChunkSize - 1) / opts.ChunkSize
	landed := map[int64]*pb.StoredChunk{}
	for _, sc := range sess.Landed {
		landed[sc.Chunk.Offset/opts.ChunkSize] = sc
	}
	if opts.Resumed != nil && len(sess.Landed) > 0 {
		opts.Resumed(int64(len(sess.Landed)), count)
	}
	up := &uploader{c: c, ctx: ctx, f: f, sess: sess, size: size, opts: opts}
	if err := up.run(count, landed); err != nil {
		return nil, err
	}
	var resp *pb.StatResponse
	err = c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.CompleteUpload(ctx, &pb.CompleteUploadRequest{Id: sess.Id, ChunkCount: uint64(count), Parents: opts.Parents})
		return err
	})
	if err != nil {
		return nil, err
	}
	fi := newInfo(p, resp.Attr)
	if fi.Size() != size {
		return fi, cairn.E("put", cairn.PathArg(p), cairn.Internal, fmt.Errorf("committed %d bytes, the local file has %d", fi.Size(), size))
	}
	return fi, nil
}

// session finds the session to resume or starts a new one.
func (c *Client) session(ctx context.Context, p, fingerprint string, size int64, opts PutOptions) (*pb.UploadSession, error) {
	if opts.Resume {
		var list *pb.ListUploadsResponse
		err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
			list, err = m.data.ListUploads(ctx, &pb.ListUploadsRequest{Path: p})
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, s := range list.Sessions {
			if s.Fingerprint == fingerprint && s.ChunkSize == opts.ChunkSize {
				var full *pb.UploadSession
				err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
					full, err = m.data.GetUpload(ctx, &pb.GetUploadRequest{Id: s.Id})
					return err
				})
				return full, err
			}
		}
	}
	var sess *pb.UploadSession
	err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		sess, err = m.data.CreateUpload(ctx, &pb.CreateUploadRequest{Path: p, Fingerprint: fingerprint, ChunkSize: opts.ChunkSize,
			Replication: uint32(opts.Replication), Mode: opts.Mode.commitMode(), Size: size})
		return err
	})
	return sess, err
}

type uploader struct {
	c    *Client
	ctx  context.Context
	f    *os.File
	sess *pb.UploadSession
	size int64
	opts PutOptions

	mu   sync.Mutex
	done int64
}

func (u *uploader) progress(n int64) {
	u.mu.Lock()
	u.done += n
	d := u.done
	u.mu.Unlock()
	if u.opts.Progress != nil {
		u.opts.Progress(d, u.size)
	}
}

// run uploads every chunk not yet landed (or landed with other bytes than
// the local file now has), Concurrency at a time.
func (u *uploader) run(count int64, landed map[int64]*pb.StoredChunk) error {
	ctx, cancel := context.WithCancel(u.ctx)
	defer cancel()
	sem := make(chan struct{}, u.c.opts.Concurrency)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	fail := func(err error) { once.Do(func() { first = err; cancel() }) }
	for i := int64(0); i < count; i++ {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := u.chunk(ctx, i, landed[i]); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	if first == nil && u.ctx.Err() != nil {
		first = cairn.E("put", cairn.Canceled, u.ctx.Err())
	}
	return first
}

func (u *uploader) chunk(ctx context.Context, i int64, have *pb.StoredChunk) error {
	off := i * u.opts.ChunkSize
	n := min(u.opts.ChunkSize, u.size-off)
	buf := make([]byte, n)
	if _, err := u.f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return cairn.E("put", cairn.PathArg(u.f.Name()), fmt.Errorf("reading local file at %d: %w", off, err))
	}
	if have != nil && have.Chunk.Length == n && have.Chunk.Crc32C == checksum.CRC32C(buf) {
		u.progress(n)
		return nil
	}
	sc, err := u.c.putChunk(ctx, buf, u.opts.Replication)
	if err != nil {
		return cairn.E("put", cairn.PathArg(u.sess.Path), err)
	}
	sc.Chunk.Offset = off
	err = u.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.data.AddUploadChunks(ctx, &pb.AddUploadChunksRequest{Id: u.sess.Id, Chunks: []*pb.StoredChunk{sc}})
		return err
	})
	if err != nil {
		return err
	}
	u.progress(n)
	return nil
}
