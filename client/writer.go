package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// WriteOptions tune one write.
type WriteOptions struct {
	Mode        WriteMode
	Parents     bool   // create missing parent directories
	Perm        uint32 // permission bits; 0 = 0644 for new files
	Xattrs      map[string]string
	Replication int   // 0 = the client's default
	ChunkSize   int64 // 0 = the client's default
	// ReplaceXattrs makes Xattrs the file's whole attribute set; by
	// default they are merged into the existing file's.
	ReplaceXattrs bool
	// ExistingDirs, with Parents, names how many leading directories of
	// the path must already exist (only deeper ones are created).
	ExistingDirs int
}

// WriteMode says what a write does to an existing file.
type WriteMode int

const (
	Overwrite WriteMode = iota // replace the content (the default)
	Exclusive                  // fail with cairn.Exists if the file exists
	AppendTo                   // add after the current end
)

func (m WriteMode) commitMode() pb.CommitMode {
	switch m {
	case Exclusive:
		return pb.CommitMode_COMMIT_CREATE
	case AppendTo:
		return pb.CommitMode_COMMIT_APPEND
	}
	return pb.CommitMode_COMMIT_OVERWRITE
}

// Writer writes a file: bytes are cut into chunks, each uploaded to its
// replica chain in the background (at most Options.Concurrency at once),
// and Close commits the whole chunk list atomically. Until Close returns
// nil, readers see the file as it was before. Writer is not safe for
// concurrent use.
type Writer struct {
	c    *Client
	ctx  context.Context
	path string
	opts WriteOptions

	buf    []byte
	sem    chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	chunks []*pb.StoredChunk
	err    error
	closed bool
	info   *FileInfo
	part   *partTarget // set when the writer uploads a multipart part
	size   int64
	landed bool // every chunk is stored; only the commit is left
}

// Create returns a Writer that replaces path's content (or creates it) when
// closed.
func (c *Client) Create(ctx context.Context, path string, opts WriteOptions) (*Writer, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = c.opts.ChunkSize
	}
	if opts.Replication == 0 {
		opts.Replication = c.opts.Replication
	}
	return &Writer{c: c, ctx: ctx, path: p, opts: opts, sem: make(chan struct{}, c.opts.Concurrency)}, nil
}

// Append returns a Writer whose bytes are added after the file's current
// end when it is closed (the file is created if missing). Concurrent
// appenders each land whole, one after the other.
func (c *Client) Append(ctx context.Context, path string) (*Writer, error) {
	return c.Create(ctx, path, WriteOptions{Mode: AppendTo})
}

// Write buffers p and uploads full chunks in the background. An error from
// an earlier chunk upload is returned here or at Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, cairn.E("write", cairn.PathArg(w.path), cairn.Invalid, errors.New("writer is closed"))
	}
	if err := w.failed(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), int(w.opts.ChunkSize)-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		w.size += int64(k)
		p = p[k:]
		if int64(len(w.buf)) == w.opts.ChunkSize {
			w.flushChunk()
		}
	}
	return n, nil
}

// ReadFrom reads r to its end into the file (lets io.Copy skip a buffer).
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		if err := w.failed(); err != nil {
			return total, err
		}
		w.grow()
		n, err := r.Read(w.buf[len(w.buf):cap(w.buf)])
		w.buf = w.buf[:len(w.buf)+n]
		total += int64(n)
		w.size += int64(n)
		if int64(len(w.buf)) == w.opts.ChunkSize {
			w.flushChunk()
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// grow makes room in the chunk buffer, starting small and doubling up to
// the chunk size, so a 4 KiB file does not cost an 8 MiB allocation.
func (w *Writer) grow() {
	if len(w.buf) < cap(w.buf) {
		return
	}
	size := min(max(2*int64(cap(w.buf)), 64<<10), w.opts.ChunkSize)
	if len(w.chunks) > 0 && len(w.buf) == 0 {
		w.buf = w.c.bufs.get(w.opts.ChunkSize)[:0] // a large file: full chunks
		return
	}
	nb := make([]byte, len(w.buf), size)
	copy(nb, w.buf)
	w.buf = nb
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// flushChunk starts uploading the buffered chunk.
func (w *Writer) flushChunk() {
	data := w.buf
	w.buf = nil
	w.mu.Lock()
	idx := len(w.chunks)
	w.chunks = append(w.chunks, nil)
	w.mu.Unlock()
	w.sem <- struct{}{}
	w.wg.Add(1)
	go func() {
		defer func() { <-w.sem; w.wg.Done() }()
		sc, err := w.c.putChunk(w.ctx, data, w.opts.Replication)
		w.c.bufs.put(data)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.err == nil {
				w.err = cairn.E("write", cairn.PathArg(w.path), err)
			}
			return
		}
		w.chunks[idx] = sc
	}()
}

// Close uploads what is buffered, waits for every chunk and commits the
// file. If it returns an error the file is unchanged (the chunks that were
// uploaded are collected later). If the error is Unavailable the commit may
// or may not have happened; Stat tells.
func (w *Writer) Close() error {
	if w.closed {
		if err := w.failed(); err != nil {
			return err
		}
		return cairn.E("write", cairn.PathArg(w.path), cairn.Invalid, errors.New("writer already closed"))
	}
	w.closed = true
	if len(w.buf) > 0 {
		w.flushChunk()
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return err
	}
	w.landed = true
	return w.commit()
}

func (w *Writer) commit() error {
	if w.part != nil {
		return w.commitPart()
	}
	req := &pb.CommitRequest{Path: w.path, Mode: w.opts.Mode.commitMode(), Chunks: w.chunks, Parents: w.opts.Parents,
		ModeBits: w.opts.Perm, Xattrs: w.opts.Xattrs, Replication: uint32(w.opts.Replication), ChunkSize: w.opts.ChunkSize,
		ReplaceXattrs: w.opts.ReplaceXattrs, ExistingDirs: uint32(w.opts.ExistingDirs)}
	var resp *pb.StatResponse
	err := w.c.leader(w.ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.Commit(ctx, req)
		return err
	})
	if err != nil {
		w.err = err
		return err
	}
	w.info = newInfo(w.path, resp.Attr)
	return nil
}

// SetXattr sets a user attribute that Close commits with the content, e.g.
// a digest known only once every byte was written.
func (w *Writer) SetXattr(name, value string) {
	if w.opts.Xattrs == nil {
		w.opts.Xattrs = map[string]string{}
	}
	w.opts.Xattrs[name] = value
}

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.size }

// CommitTo commits the written chunks to path instead, after Close failed
// at the commit itself (say because the path turned out to be a
// directory); the chunks are not sent again. It is an Invalid error when
// Close did not get that far or already succeeded.
func (w *Writer) CommitTo(path string) error {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return err
	}
	if !w.landed || w.info != nil {
		return cairn.E("write", cairn.PathArg(p), cairn.Invalid, errors.New("CommitTo needs a writer whose chunks landed but whose commit failed"))
	}
	w.path, w.err = p, nil
	return w.commit()
}

// Abort abandons the write: buffered bytes are dropped, chunk uploads in
// flight finish or fail, and nothing is committed (uploaded chunks become
// garbage). Close after Abort returns an error.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.buf = nil
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = cairn.E("write", cairn.PathArg(w.path), cairn.Canceled, errors.New("write was aborted"))
	}
}

// Info returns the file's attributes after a successful Close.
func (w *Writer) Info() *FileInfo { return w.info }

// WriteFile writes r as the whole content of path (see Writer).
func (c *Client) WriteFile(ctx context.Context, path string, r io.Reader, opts WriteOptions) (*FileInfo, error) {
	w, err := c.Create(ctx, path, opts)
	if err != nil {
		return nil, err
	}
	if _, err := w.ReadFrom(r); err != nil {
		werr := w.failed()
		w.Abort()
		if werr != nil {
			return nil, werr // a chunk upload failed
		}
		return nil, cairn.E("write", cairn.PathArg(path), fmt.Errorf("reading input: %w (nothing was committed)", err))
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return w.info, nil
}
