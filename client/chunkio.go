package client

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/internal/stall"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// maxChunkAttempts bounds how often one chunk is re-sent to a new replica
// set after replicas fail.
const maxChunkAttempts = 6

// maxTokenRefreshes bounds how often one chunk write or read fetches a
// fresh token after a data node refused the one it had (it expired, or
// the node does not know its key yet).
const maxTokenRefreshes = 2

// putChunk stores data as one chunk on a full replica set and returns the
// record to commit. When a replica fails, the chunk is sent again to a
// fresh replica set that avoids it; the copies that did land are orphans the
// collector removes. Errors: Invalid/Corrupt from the nodes are returned at
// once; Unavailable after maxChunkAttempts.
func (c *Client) putChunk(ctx context.Context, data []byte, repl int) (*pb.StoredChunk, error) {
	ref := &pb.ChunkRef{Length: int64(len(data)), Crc32C: checksum.CRC32C(data)}
	if c.opts.MD5 {
		sum := md5.Sum(data)
		ref.Md5 = sum[:]
	}
	var exclude []string
	var last error
	refreshes := 0
	waitUntil, backoff := time.Now().Add(c.opts.RetryFor), 100*time.Millisecond
	for attempt := 0; attempt < maxChunkAttempts; attempt++ {
		alloc, err := c.alloc.get(ctx, repl, exclude)
		if err == nil && len(exclude) == 0 {
			alloc = c.avoidAvoided(ctx, alloc, repl)
		}
		if err != nil && cairn.KindOf(err) == cairn.Unavailable && len(exclude) > 0 && time.Now().Before(waitUntil) {
			// Too few usable data nodes once the ones that just failed
			// are excluded — one restarting in a rolling update, say.
			// Ask again without exclusions after a pause: the metadata
			// service then waits for restarting nodes itself (it marks
			// such a shortage retryable), and the node that comes back
			// is likely one that failed here.
			c.opts.Logger.Debug("waiting for enough data nodes", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil, cairn.E("write", cairn.Canceled, ctx.Err())
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			exclude = nil
			attempt--
			continue
		}
		if err != nil {
			if last != nil {
				// Say why the first replicas failed, not only that no
				// others are left.
				return nil, cairn.E("write", cairn.KindOf(last), fmt.Errorf("%w; no other data node can take the chunk: %v", last, err))
			}
			return nil, err
		}
		stored, failed, err := c.sendChain(ctx, alloc, data, ref.Crc32C)
		if err == nil && len(stored) >= len(alloc.Replicas) {
			ref.Id = alloc.Id
			return &pb.StoredChunk{Chunk: ref, Nodes: stored}, nil
		}
		if err != nil && cairn.KindOf(err) == cairn.Permission && refreshes < maxTokenRefreshes {
			// The first replica refused the write token: fetch a fresh
			// allocation (and token) without counting an attempt.
			refreshes++
			c.alloc.flush()
			c.opts.Logger.Debug("data node refused the write token; allocating again", "err", err)
			attempt--
			continue
		}
		if err != nil {
			if k := cairn.KindOf(err); k == cairn.Invalid || k == cairn.Canceled || k == cairn.Permission {
				return nil, err
			}
			last = err
		} else {
			last = cairn.E("write", cairn.Unavailable, fmt.Errorf("only %d of %d replicas stored the chunk: %v", len(stored), len(alloc.Replicas), failedString(failed)))
		}
		for _, f := range failed {
			exclude = append(exclude, f.Node)
		}
		c.alloc.flush()
		c.opts.Logger.Debug("retrying chunk on new replicas", "attempt", attempt+1, "exclude", exclude, "err", last)
	}
	return nil, cairn.E("write", cairn.Unavailable, fmt.Errorf("gave up after %d attempts: %w", maxChunkAttempts, last))
}

// avoidAvoided replaces an allocation that includes a node the client is
// avoiding (it just refused a connection or answered 503) with one that
// leaves every avoided node out, if the cluster has enough other nodes;
// else the allocation stays as it was.
func (c *Client) avoidAvoided(ctx context.Context, alloc *allocation, repl int) *allocation {
	ex := c.load.avoided(alloc.Replicas)
	if len(ex) == 0 {
		return alloc
	}
	if a, err := c.alloc.get(ctx, repl, ex); err == nil {
		return a
	}
	return alloc
}

type failedNode struct {
	Node  string `json:"node"`
	Addr  string `json:"addr"`
	Error string `json:"error"`
	Kind  uint8  `json:"kind"`
}

func failedString(f []failedNode) string {
	var parts []string
	for _, x := range f {
		parts = append(parts, x.Node+" ("+x.Addr+"): "+x.Error)
	}
	return strings.Join(parts, "; ")
}

// sendChain PUTs the chunk to the first replica, which forwards it down the
// chain. It returns the nodes that stored it durably and those that failed.
// A Permission error means the first replica refused the write token.
func (c *Client) sendChain(ctx context.Context, a *allocation, data []byte, crc uint32) ([]string, []failedNode, error) {
	if len(a.Replicas) == 0 {
		return nil, nil, cairn.E("write", cairn.Unavailable, errors.New("no replicas allocated"))
	}
	id, err := cairn.ChunkIDFromBytes(a.Id)
	if err != nil {
		return nil, nil, err
	}
	first := a.Replicas[0]
	var chain []string
	for _, r := range a.Replicas[1:] {
		chain = append(chain, r.Node+"@"+r.Addr)
	}
	// The write is given up when the first replica stops taking bytes,
	// or does not answer once it has them all, for the client's patience
	// (see Options.StallPatience): a frozen node costs seconds.
	wctx, watch := stall.Watch(ctx, c.stalls.PatienceFor(len(a.Replicas)))
	defer watch.Stop()
	// data is a pooled buffer, reused once this returns, but the
	// transport may go on sending the body after the answer came (a node
	// that refuses a chunk answers before reading it): wait until it has
	// closed every body it was given.
	var sent atomic.Int64
	var bodies sync.WaitGroup
	defer bodies.Wait()
	newBody := func() *stallBody {
		bodies.Add(1)
		return &stallBody{r: stall.Reader{R: bytes.NewReader(data), W: watch}, sent: &sent, closed: bodies.Done}
	}
	body := newBody()
	req, err := http.NewRequestWithContext(wctx, http.MethodPut, c.scheme+"://"+first.Addr+"/v1/chunks/"+id.String(), body)
	if err != nil {
		body.Close()
		return nil, nil, cairn.E("write", cairn.Invalid, err)
	}
	req.ContentLength = int64(len(data))
	req.GetBody = func() (io.ReadCloser, error) { return newBody(), nil } // the transport's retry on a stale connection
	req.Header.Set(cairnhttp.HeaderCRC, fmt.Sprintf("%08x", crc))
	setToken(req, a.token)
	if len(chain) > 0 {
		req.Header.Set(cairnhttp.HeaderChain, strings.Join(chain, ","))
	}
	done := c.load.start(first.Addr)
	resp, err := c.http.Do(req)
	defer done()
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, cairn.E("write", cairn.Canceled, ctx.Err())
		}
		if cause := context.Cause(wctx); errors.Is(cause, stall.ErrStalled) {
			err = fmt.Errorf("data node %s (%s) stopped taking the chunk: %w", first.Node, first.Addr, cause)
			c.reportSlow(first.Node, err.Error())
		}
		err = cairn.E("write", cairn.Unavailable, err)
		c.load.failed(first.Node, first.Addr, err)
		return nil, []failedNode{{Node: first.Node, Addr: first.Addr, Error: err.Error()}}, err
	}
	if s := sent.Load(); s != 0 {
		c.stalls.Observe(time.Since(time.Unix(0, s)))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		err := cairnhttp.ReadError(resp)
		if k := cairn.KindOf(err); k == cairn.Invalid || k == cairn.Permission {
			return nil, nil, err
		}
		c.load.failed(first.Node, first.Addr, err)
		return nil, []failedNode{{Node: first.Node, Addr: first.Addr, Error: err.Error()}}, err
	}
	var res struct {
		Stored []string     `json:"stored"`
		Failed []failedNode `json:"failed"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, []failedNode{{Node: first.Node, Addr: first.Addr, Error: err.Error()}}, cairn.E("write", cairn.Unavailable, err)
	}
	for _, f := range res.Failed {
		c.load.failed(f.Node, f.Addr, cairn.E(cairn.Kind(f.Kind), errors.New(f.Error)))
	}
	for _, r := range a.Replicas {
		if slices.Contains(res.Stored, r.Node) {
			c.load.succeeded(r.Addr)
		}
	}
	return res.Stored, res.Failed, nil
}

// reportSlow tells the metadata leader that node stalled a transfer, so
// that placement prefers other nodes for a while (at most once per
// reportEvery per node from this client; it waits at most a second, and
// a failure only goes to the debug log).
func (c *Client) reportSlow(node, reason string) {
	if node == "" || !c.load.reportOnce(node) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.data.ReportSlow(ctx, &pb.ReportSlowRequest{Node: node, Reason: reason})
		return err
	})
	if err != nil {
		c.opts.Logger.Debug("could not report a slow data node", "node", node, "err", err)
	}
}

// stallBody is a chunk PUT's body: reads count as progress, and the moment
// the last byte is taken is noted (the answer's wait counts from there).
type stallBody struct {
	r      stall.Reader
	sent   *atomic.Int64
	closed func() // called once, by the first Close
	once   sync.Once
}

func (b *stallBody) Close() error {
	b.once.Do(b.closed)
	return nil
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.sent.CompareAndSwap(0, time.Now().UnixNano())
		b.r.W.Progress()
	}
	return n, err
}

// readChunk reads [off, off+n) of a chunk into p (len(p) == n). Every
// byte is checked against the chunk's CRC in metadata: the replica sends
// the CRCs of all the chunk's sub-blocks, which must combine to that CRC,
// and the bytes must match the CRCs of the sub-blocks they fall in (see
// readReplica). It tries the replicas in nodeLoad.order (healthy and least
// busy first) and falls over on any error; only when all fail does it
// return an error (Corrupt if a replica returned bad bytes or could not
// prove its bytes, else Unavailable, NotFound or Permission). A replica
// that sent bytes failing their CRCs is asked to verify its copy; one
// that refuses the read token is asked again with a fresh one
// (toks.refresh).
func (c *Client) readChunk(ctx context.Context, loc *pb.ChunkLocation, toks *readTokens, off int64, p []byte) error {
	var errs []error
	corrupt, refreshes, refused := false, 0, 0
	id, _ := cairn.ChunkIDFromBytes(loc.Chunk.Id)
	for _, r := range c.load.order(loc.Replicas) {
		if r.Addr == "" {
			continue
		}
		done := c.load.start(r.Addr)
		tok := toks.get(id)
		err := c.readReplica(ctx, r.Addr, loc.Chunk, tok, off, p)
		for cairn.KindOf(err) == cairn.Permission && refreshes < maxTokenRefreshes && ctx.Err() == nil {
			refreshes++
			if rerr := toks.refresh(ctx, id, tok); rerr != nil {
				err = fmt.Errorf("%w; fetching a fresh token failed: %w", err, rerr)
				break
			}
			tok = toks.get(id)
			err = c.readReplica(ctx, r.Addr, loc.Chunk, tok, off, p)
		}
		done()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return cairn.E("read", cairn.Canceled, ctx.Err())
		}
		kind := cairn.KindOf(err)
		if kind == cairn.Permission {
			refused++ // the token, not the node: no reason to avoid it
		} else {
			c.load.failed(r.Node, r.Addr, err)
		}
		if errors.Is(err, stall.ErrStalled) {
			c.reportSlow(r.Node, err.Error())
		}
		if kind == cairn.Corrupt {
			corrupt = true
			if !errors.Is(err, errNoChunkCRCs) {
				go c.reportCorrupt(r.Addr, loc.Chunk.Id, tok)
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", r.Node, err))
		c.opts.Logger.Warn("chunk read failed; trying another replica", "node", r.Node, "err", err)
	}
	kind := cairn.Unavailable
	switch {
	case corrupt:
		kind = cairn.Corrupt
	case len(errs) > 0 && refused == len(errs):
		kind = cairn.Permission
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no replica has an address"))
	}
	return cairn.E("read", cairn.PathArg(id.String()), kind, fmt.Errorf("no replica could serve the chunk: %w", errors.Join(errs...)))
}

// reportCorrupt asks the node that sent bad bytes to verify its copy; a
// corrupt replica is then dropped and repaired from a good one. Best effort.
func (c *Client) reportCorrupt(addr string, rawID, tok []byte) {
	id, err := cairn.ChunkIDFromBytes(rawID)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.scheme+"://"+addr+"/v1/chunks/"+id.String()+"/verify", nil)
	if err != nil {
		return
	}
	setToken(req, tok)
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
	}
}

// errNoChunkCRCs marks a ranged read whose reply carried the CRCs of only
// the sub-blocks it covers (a data node from before crcs=all): its bytes
// cannot be checked against metadata, so the read fails (Corrupt), but the
// node's copy is not suspect and is not reported.
var errNoChunkCRCs = errors.New("the reply lacks the CRCs of the chunk's other sub-blocks")

// chunkReply is the framing of a chunk GET reply, from its headers
// (docs/protocol.md).
type chunkReply struct {
	blocks    int   // CRCs before the data
	blockSize int64 // sub-block size
	off, n    int64 // the aligned range of the data
	chunkLen  int64 // the chunk's length on the node
}

// parseChunkReply reads the headers of a reply to a read of [off, off+n)
// of a chunk of ref.Length bytes and checks they frame a crcs=all reply of
// that chunk: a length other than ref's is Corrupt, fewer CRCs than the
// chunk has sub-blocks Corrupt wrapping errNoChunkCRCs, headers that do
// not frame a covering aligned range Unavailable.
func parseChunkReply(h http.Header, ref *pb.ChunkRef, off, n int64) (chunkReply, error) {
	blocks, err1 := strconv.Atoi(h.Get(cairnhttp.HeaderBlocks))
	bs, err2 := strconv.ParseInt(h.Get(cairnhttp.HeaderBlockSize), 10, 64)
	aoff, err3 := strconv.ParseInt(h.Get(cairnhttp.HeaderRangeOffset), 10, 64)
	alen, err4 := strconv.ParseInt(h.Get(cairnhttp.HeaderRangeLength), 10, 64)
	chunkLen, err5 := strconv.ParseInt(h.Get(cairnhttp.HeaderChunkLength), 10, 64)
	r := chunkReply{blocks: blocks, blockSize: bs, off: aoff, n: alen, chunkLen: chunkLen}
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return r, cairn.E(cairn.Unavailable, fmt.Errorf("malformed headers: %w", err))
	}
	if chunkLen != ref.Length {
		return r, cairn.E(cairn.Corrupt, fmt.Errorf("chunk of %d bytes, metadata says %d", chunkLen, ref.Length))
	}
	if bs < 512 || bs&(bs-1) != 0 || blocks < 0 || aoff < 0 || aoff%bs != 0 || aoff > off || aoff+alen < off+n || aoff+alen > chunkLen ||
		(alen%bs != 0 && aoff+alen != chunkLen) {
		return r, cairn.E(cairn.Unavailable, fmt.Errorf("malformed reply: range %d+%d in sub-blocks of %d does not frame the %d bytes asked for at %d of a %d-byte chunk",
			aoff, alen, bs, n, off, chunkLen))
	}
	if want := (chunkLen + bs - 1) / bs; int64(blocks) != want {
		return r, cairn.E(cairn.Corrupt, fmt.Errorf("%w: %d CRCs for a chunk of %d sub-blocks; the data node must answer crcs=all (docs/protocol.md)", errNoChunkCRCs, blocks, want))
	}
	return r, nil
}

// readReplica reads [off, off+len(p)) of chunk ref from the data node at
// addr into p, asking for the CRCs of all the chunk's sub-blocks
// (crcs=all). Before the data is used it checks that those CRCs combine
// to ref.Crc32C, the CRC the writer recorded in metadata, and then each
// returned sub-block against its CRC; a whole-chunk read also checks
// ref.Md5 when the client computes MD5s. So a node cannot pass off other
// bytes even when its own CRCs agree with them. Errors: Corrupt for bytes
// or CRCs that fail a check (p then holds nothing worth using), Unavailable
// for a failed or malformed reply, the node's error otherwise.
func (c *Client) readReplica(ctx context.Context, addr string, ref *pb.ChunkRef, tok []byte, off int64, p []byte) error {
	id, _ := cairn.ChunkIDFromBytes(ref.Id)
	url := c.scheme + "://" + addr + "/v1/chunks/" + id.String() + "?offset=" + strconv.FormatInt(off, 10) + "&length=" + strconv.Itoa(len(p)) + "&crcs=all"
	// A replica that stops sending for the client's patience is given up
	// (and the next one tried): a frozen node costs a read seconds.
	rctx, watch := stall.Watch(ctx, c.stalls.Patience())
	defer watch.Stop()
	stalled := func(err error) error {
		if cause := context.Cause(rctx); errors.Is(cause, stall.ErrStalled) && ctx.Err() == nil {
			return fmt.Errorf("data node %s stopped sending chunk %s: %w", addr, id, cause)
		}
		return err
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, url, nil)
	if err != nil {
		return cairn.E(cairn.Invalid, err)
	}
	setToken(req, tok)
	resp, err := c.http.Do(req)
	if err != nil {
		return cairn.E(cairn.Unavailable, stalled(err))
	}
	defer resp.Body.Close()
	watch.Progress()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{stall.Reader{R: resp.Body, W: watch}, resp.Body}
	if resp.StatusCode != http.StatusOK {
		return cairnhttp.ReadError(resp)
	}
	if len(p) == 0 {
		return nil
	}
	rr, err := parseChunkReply(resp.Header, ref, off, int64(len(p)))
	if err != nil {
		return cairn.E(fmt.Errorf("reading chunk %s from %s: %w", id, addr, err))
	}
	raw := make([]byte, 4*rr.blocks)
	if _, err := io.ReadFull(resp.Body, raw); err != nil {
		return cairn.E(cairn.Unavailable, fmt.Errorf("reading CRCs: %w", stalled(err)))
	}
	crcs := make([]uint32, rr.blocks)
	for i := range crcs {
		crcs[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	if whole, ok := checksum.CombineBlocks(crcs, rr.blockSize, rr.chunkLen); !ok || whole != ref.Crc32C {
		return cairn.E(cairn.Corrupt, fmt.Errorf("chunk %s from %s: sub-block CRCs combine to %08x, metadata says %08x", id, addr, whole, ref.Crc32C))
	}
	// Read straight into p when the aligned range is exactly what was asked.
	buf := p
	if rr.off != off || rr.n != int64(len(p)) {
		buf = make([]byte, rr.n)
	}
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		return cairn.E(cairn.Unavailable, fmt.Errorf("reading chunk data: %w", stalled(err)))
	}
	first := rr.off / rr.blockSize
	for lo := int64(0); lo < rr.n; lo += rr.blockSize {
		b := first + lo/rr.blockSize
		if got, want := checksum.CRC32C(buf[lo:min(lo+rr.blockSize, rr.n)]), crcs[b]; got != want {
			return cairn.E(cairn.Corrupt, fmt.Errorf("sub-block %d of chunk %s from %s: crc %08x, want %08x", b, id, addr, got, want))
		}
	}
	if rr.off == 0 && rr.n == ref.Length && c.opts.MD5 && len(ref.Md5) == md5.Size {
		if sum := md5.Sum(buf); !bytes.Equal(sum[:], ref.Md5) {
			return cairn.E(cairn.Corrupt, fmt.Errorf("chunk %s from %s: md5 %x, metadata says %x", id, addr, sum, ref.Md5))
		}
	}
	if &buf[0] != &p[0] {
		copy(p, buf[off-rr.off:])
	}
	return nil
}
