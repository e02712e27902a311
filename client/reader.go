package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// File is an open file for reading. It implements io.Reader, io.ReaderAt,
// io.Seeker, io.WriterTo and io.Closer, and fs.File. It reads the version
// of the file that was current at Open: chunks are immutable, so later
// commits never change what an open File returns.
type File struct {
	c      *Client
	ctx    context.Context
	info   *FileInfo
	chunks []*pb.ChunkLocation
	tokens *readTokens
	pos    int64
	mu     sync.Mutex

	// Read-ahead for small sequential Reads: a window of the file.
	rbuf    []byte
	rbufOff int64
}

// readAhead is how much a small Read fetches at once.
const readAhead = 1 << 20

// Open looks up a file's chunks and replicas.
func (c *Client) Open(ctx context.Context, path string) (*File, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	resp, err := c.lookup(ctx, p, 0, -1)
	if err != nil {
		return nil, err
	}
	return &File{c: c, ctx: ctx, info: newInfo(p, resp.Attr), chunks: resp.Chunks, tokens: c.newReadTokens(p, 0, -1, resp)}, nil
}

func (c *Client) lookup(ctx context.Context, p string, off, n int64) (*pb.LookupResponse, error) {
	var resp *pb.LookupResponse
	err := c.reader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.Lookup(ctx, &pb.LookupRequest{Path: p, Offset: off, Length: n, Read: c.readOpts()})
		return err
	})
	return resp, err
}

// Stat returns the attributes the file had when opened.
func (f *File) Stat() (*FileInfo, error) { return f.info, nil }

// Chunk is one chunk of a file with the replicas that hold it.
type Chunk struct {
	ID     cairn.ChunkID
	Offset int64 // where the chunk starts in the file
	Length int64
	CRC32C uint32
	MD5    []byte // nil unless the writer computed one (Options.MD5)
	// Replicas are in the order a read tries them: nodes that are alive
	// or draining first, then suspect, leaving, dead and unknown ones.
	Replicas []Replica
}

// Replica is one copy of a chunk: the node holding it, where to reach the
// node, and the node's state when the metadata service answered.
type Replica struct {
	cairn.Location
	State cairn.NodeState
}

// Chunks returns the file's chunks with their replicas, as looked up at
// Open.
func (f *File) Chunks() []Chunk {
	out := make([]Chunk, len(f.chunks))
	for i, cl := range f.chunks {
		out[i] = newChunk(cl)
	}
	return out
}

func newChunk(cl *pb.ChunkLocation) Chunk {
	ref := cl.Chunk
	id, _ := cairn.ChunkIDFromBytes(ref.Id)
	c := Chunk{ID: id, Offset: ref.Offset, Length: ref.Length, CRC32C: ref.Crc32C, MD5: ref.Md5}
	for _, r := range cl.Replicas {
		c.Replicas = append(c.Replicas, newReplica(r, r.State))
	}
	return c
}

// newReplica converts a replica whose node's state is state ("" or text
// this client does not know: NodeUnknown).
func newReplica(r *pb.Replica, state string) Replica {
	return Replica{Location: cairn.Location{Node: cairn.NodeID(r.Node), Addr: r.Addr}, State: nodeState(state)}
}

// Size is the file's length.
func (f *File) Size() int64 { return f.info.size }

// Close releases nothing but marks the end of use; it never fails.
func (f *File) Close() error { return nil }

// Read reads from the current offset. Small reads are served from a
// read-ahead window, so reading through a bufio.Reader or byte by byte does
// not cost a network round trip per call.
func (f *File) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(p) > 0 && len(p) < readAhead/4 && f.pos < f.info.size {
		if f.pos < f.rbufOff || f.pos >= f.rbufOff+int64(len(f.rbuf)) {
			buf := make([]byte, min(readAhead, f.info.size-f.pos))
			n, err := f.ReadAt(buf, f.pos)
			if err != nil && err != io.EOF {
				return 0, err
			}
			f.rbuf, f.rbufOff = buf[:n], f.pos
		}
		n := copy(p, f.rbuf[f.pos-f.rbufOff:])
		f.pos += int64(n)
		return n, nil
	}
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset for the next Read.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.info.size
	default:
		return f.pos, cairn.E("seek", cairn.Invalid, fmt.Errorf("bad whence %d", whence))
	}
	if offset < 0 {
		return f.pos, cairn.E("seek", cairn.Invalid, fmt.Errorf("negative offset %d", offset))
	}
	f.pos = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at off, fetching the chunks it spans in
// parallel. Every byte is verified; a replica that fails or returns bad
// bytes is skipped for another. It returns io.EOF when off+len(p) passes
// the end.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, cairn.E("read", cairn.Invalid, errors.New("negative offset"))
	}
	if off >= f.info.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	want := min(int64(len(p)), f.info.size-off)
	if err := f.c.readSpans(f.ctx, f.chunks, f.tokens, p[:want], off); err != nil {
		return 0, cairn.E("read", cairn.PathArg(f.info.Path), err)
	}
	if want < int64(len(p)) {
		return int(want), io.EOF
	}
	return int(want), nil
}

// span is the part of one chunk that a read needs.
type span struct {
	loc      *pb.ChunkLocation
	chunkOff int64
	dst      []byte
}

// spans cuts [off, off+len(p)) into per-chunk pieces.
func spans(chunks []*pb.ChunkLocation, p []byte, off int64) []span {
	i := sort.Search(len(chunks), func(i int) bool {
		c := chunks[i].Chunk
		return c.Offset+c.Length > off
	})
	var out []span
	end := off + int64(len(p))
	for ; i < len(chunks) && chunks[i].Chunk.Offset < end; i++ {
		c := chunks[i].Chunk
		lo, hi := max(off, c.Offset), min(end, c.Offset+c.Length)
		out = append(out, span{loc: chunks[i], chunkOff: lo - c.Offset, dst: p[lo-off : hi-off]})
	}
	return out
}

// readSpans reads every span, at most Concurrency at a time.
func (c *Client) readSpans(ctx context.Context, chunks []*pb.ChunkLocation, toks *readTokens, p []byte, off int64) error {
	ss := spans(chunks, p, off)
	covered := int64(0)
	for _, s := range ss {
		covered += int64(len(s.dst))
	}
	if covered != int64(len(p)) {
		return cairn.E(cairn.Internal, fmt.Errorf("file map has a hole: %d of %d bytes covered", covered, len(p)))
	}
	if len(ss) == 1 {
		return c.readChunk(ctx, ss[0].loc, toks, ss[0].chunkOff, ss[0].dst)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, c.opts.Concurrency)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, s := range ss {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := c.readChunk(ctx, s.loc, toks, s.chunkOff, s.dst); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// WriteTo streams the rest of the file to w, reading up to Concurrency
// chunks ahead in parallel while earlier ones are written.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeRange(w, f.pos, f.info.size)
}

// WriteRangeTo streams bytes [off, off+n) of the file (clipped to its end)
// to w like WriteTo, and leaves the read position after them.
func (f *File) WriteRangeTo(w io.Writer, off, n int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if off < 0 || n < 0 {
		return 0, cairn.E("read", cairn.PathArg(f.info.Path), cairn.Invalid, errors.New("negative range"))
	}
	off = min(off, f.info.size)
	f.pos = off
	return f.writeRange(w, off, min(f.info.size, off+n))
}

func (f *File) writeRange(w io.Writer, start, end int64) (int64, error) {
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	type piece struct {
		buf  []byte
		done chan error
	}
	var queue []*piece
	startPiece := func(off int64) *piece {
		n := min(f.c.opts.ChunkSize, end-off)
		// Align pieces with chunks so each is one request.
		i := sort.Search(len(f.chunks), func(i int) bool {
			c := f.chunks[i].Chunk
			return c.Offset+c.Length > off
		})
		if i < len(f.chunks) {
			c := f.chunks[i].Chunk
			n = min(c.Offset+c.Length-off, max(c.Length, n), end-off)
		}
		pc := &piece{buf: f.c.bufs.get(n), done: make(chan error, 1)}
		go func() { pc.done <- f.c.readSpans(ctx, f.chunks, f.tokens, pc.buf, off) }()
		return pc
	}
	next := start
	var written int64
	for next < end || len(queue) > 0 {
		for len(queue) < f.c.opts.Concurrency && next < end {
			pc := startPiece(next)
			queue = append(queue, pc)
			next += int64(len(pc.buf))
		}
		pc := queue[0]
		queue = queue[1:]
		if err := <-pc.done; err != nil {
			return written, cairn.E("read", cairn.PathArg(f.info.Path), err)
		}
		n, err := w.Write(pc.buf)
		f.c.bufs.put(pc.buf)
		written += int64(n)
		f.pos += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// ReadRange returns n bytes of path starting at off (fewer at the end of
// the file), verified.
func (c *Client) ReadRange(ctx context.Context, path string, off, n int64) ([]byte, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, cairn.E("read", cairn.Invalid, fmt.Errorf("bad range offset %d length %d", off, n))
	}
	resp, err := c.lookup(ctx, p, off, n)
	if err != nil {
		return nil, err
	}
	size := resp.Attr.Size
	if off >= size {
		return []byte{}, nil
	}
	buf := make([]byte, min(n, size-off))
	if err := c.readSpans(ctx, resp.Chunks, c.newReadTokens(p, off, n, resp), buf, off); err != nil {
		return nil, cairn.E("read", cairn.PathArg(p), err)
	}
	return buf, nil
}

// BlockLocation is one chunk of a file with the hosts that hold it, as
// data-locality schedulers (Spark's preferred locations) want them.
type BlockLocation struct {
	Offset, Length int64
	Hosts          []string // data node addresses, best first
	Nodes          []cairn.NodeID
}

// Locations returns the blocks covering [off, off+n) of path (n < 0: to the
// end).
func (c *Client) Locations(ctx context.Context, path string, off, n int64) ([]BlockLocation, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	resp, err := c.lookup(ctx, p, off, n)
	if err != nil {
		return nil, err
	}
	out := make([]BlockLocation, 0, len(resp.Chunks))
	for _, cl := range resp.Chunks {
		b := BlockLocation{Offset: cl.Chunk.Offset, Length: cl.Chunk.Length}
		for _, r := range cl.Replicas {
			b.Hosts = append(b.Hosts, r.Addr)
			b.Nodes = append(b.Nodes, cairn.NodeID(r.Node))
		}
		out = append(out, b)
	}
	return out, nil
}
