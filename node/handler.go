package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/internal/stall"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/token"
	"github.com/cairnfs/cairn/volume"
)

// dataServer serves the data protocol: chunk reads and writes on the data
// port, forwarding down the replication chain, repair copies, verification
// on a client's request, and the scrubber. Node makes it in New and fills
// in id and store in Start.
type dataServer struct {
	cfg         *Config
	client      *http.Client
	metrics     *metrics
	health      *diskHealth
	repairLimit *rate.Limiter
	scrubLimit  *rate.Limiter
	bufs        sync.Pool // chunk bodies being received (handlePut)
	// reportCorrupt tells the metadata leader a replica here is corrupt.
	reportCorrupt func(context.Context, cairn.ChunkID) error
	// tokens checks capability tokens; nil without TLS.
	tokens *token.Verifier
	// reportSlow tells the metadata leader a next replica stalled.
	reportSlow func(node, reason string)
	// space refuses chunks that would fill the disk (space.go).
	space *diskSpace
	// forwardPatience is how long a chain's next replica may take no
	// bytes, or not answer, before it is given up (see forward).
	forwardPatience *stall.Tracker

	id    cairn.NodeID
	store *volume.Store
}

// routes adds the chunk endpoints to mux (see Node.Handler).
func (d *dataServer) routes(mux *http.ServeMux) {
	read, write, internal := d.tokened(token.Read), d.tokened(token.Write), d.allow(pki.Meta, pki.Node)
	mux.HandleFunc("PUT /v1/chunks/{id}", write(d.handlePut))
	mux.HandleFunc("GET /v1/chunks/{id}", read(d.handleGet))
	mux.HandleFunc("HEAD /v1/chunks/{id}", read(d.handleHead))
	mux.HandleFunc("DELETE /v1/chunks/{id}", internal(d.handleDelete))
	mux.HandleFunc("POST /v1/chunks/{id}/replicate", internal(d.handleReplicate))
	mux.HandleFunc("POST /v1/chunks/{id}/verify", read(d.handleVerify))
}

// allow returns a wrapper that lets a request through only when the
// caller's verified certificate holds one of roles. The data port
// verifies client certificates when given but does not require them, so
// that health probes (/healthz, /readyz, /metrics) work without one; every
// chunk route is wrapped (by this or by tokened). Without TLS (--insecure)
// everything is let through.
func (d *dataServer) allow(roles ...pki.Role) func(http.HandlerFunc) http.HandlerFunc {
	return func(h http.HandlerFunc) http.HandlerFunc {
		if d.cfg.TLS == nil {
			return h
		}
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := pki.PeerIdentity(r.TLS)
			if err == nil && !id.HasAny(roles...) {
				err = fmt.Errorf("%s may not %s chunks on a data node: only metadata peers and data nodes may", id, r.Method)
			}
			if err != nil {
				cairnhttp.WriteError(w, cairn.E("node.authorize", cairn.Permission, err))
				return
			}
			h(w, r)
		}
	}
}

// PutResult is the JSON body of a successful PUT: the nodes that stored the
// chunk durably, and those further down the chain that failed.
type PutResult struct {
	Stored []string     `json:"stored"`
	Failed []FailedNode `json:"failed,omitempty"`
}

// FailedNode names a replica that could not store the chunk.
type FailedNode struct {
	Node  string `json:"node"`
	Addr  string `json:"addr"`
	Error string `json:"error"`
	Kind  uint8  `json:"kind"`
}

// getBuf returns a buffer of size bytes for a chunk body, from the node's
// own pool (each node in a process keeps its own).
func (d *dataServer) getBuf(size int64) []byte {
	if b, ok := d.bufs.Get().(*[]byte); ok && int64(cap(*b)) >= size {
		return (*b)[:size]
	}
	return make([]byte, size, max(size, 4<<10))
}

// putBuf returns b to the pool unless it is too big to keep.
func (d *dataServer) putBuf(b []byte) {
	if cap(b) <= 16<<20 {
		d.bufs.Put(&b)
	}
}

func (d *dataServer) handlePut(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	res, err := d.put(r)
	if err != nil {
		d.metrics.writes.WithLabelValues(cairn.KindOf(err).String()).Inc()
		cairnhttp.WriteError(w, err)
		return
	}
	d.metrics.writes.WithLabelValues("ok").Inc()
	d.metrics.writeSecond.Observe(time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// put receives a chunk, streams it to the next replica while it arrives,
// verifies and stores it durably, then waits for the rest of the chain.
func (d *dataServer) put(r *http.Request) (*PutResult, error) {
	const op = "node.put"
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err != nil {
		return nil, cairn.E(op, err)
	}
	crc64, err := strconv.ParseUint(r.Header.Get(cairnhttp.HeaderCRC), 16, 32)
	if err != nil {
		return nil, cairn.E(op, cairn.PathArg(id.String()), cairn.Invalid, fmt.Errorf("missing or bad %s header: the sender must give the chunk's CRC32C", cairnhttp.HeaderCRC))
	}
	size := r.ContentLength
	if size < 0 || size > d.cfg.MaxChunkSize {
		return nil, cairn.E(op, cairn.PathArg(id.String()), cairn.Invalid, fmt.Errorf("chunk length %d: need Content-Length between 0 and %d", size, d.cfg.MaxChunkSize))
	}
	next, rest, err := parseChain(r.Header.Get(cairnhttp.HeaderChain))
	if err != nil {
		return nil, cairn.E(op, err)
	}
	if d.space != nil {
		if err := d.space.admit(id, size); err != nil {
			return nil, err
		}
	}
	buf := d.getBuf(size)
	defer d.putBuf(buf)

	var fwd *forward
	body := io.Reader(r.Body)
	if next != nil {
		fwd = d.startForward(r.Context(), id, uint32(crc64), size, *next, rest)
		body = io.TeeReader(r.Body, fwd)
	}
	if _, err := io.ReadFull(body, buf); err != nil {
		if fwd != nil {
			fwd.abort()
		}
		return nil, cairn.E(op, cairn.PathArg(id.String()), cairn.Invalid, fmt.Errorf("truncated upload: got fewer than %d bytes: %v", size, err))
	}
	if fwd != nil {
		fwd.finish()
	}
	if err := d.store.Put(r.Context(), id, buf, uint32(crc64)); err != nil {
		if k := cairn.KindOf(err); k != cairn.Corrupt && k != cairn.Exists && k != cairn.Canceled && k != cairn.NoSpace && k != cairn.Invalid {
			d.health.writeFailed(err)
		}
		if fwd != nil {
			fwd.wait()
		}
		return nil, err
	}
	d.metrics.writeBytes.Add(float64(size))
	res := &PutResult{Stored: []string{string(d.id)}}
	if fwd != nil {
		down, failed := fwd.wait()
		res.Stored = append(res.Stored, down...)
		res.Failed = failed
	}
	return res, nil
}

// hop is one replica in a chain header.
type hop struct{ node, addr string }

func parseChain(h string) (*hop, string, error) {
	if h == "" {
		return nil, "", nil
	}
	first, rest, _ := strings.Cut(h, ",")
	node, addr, ok := strings.Cut(first, "@")
	if !ok || node == "" || addr == "" {
		return nil, "", cairn.E(cairn.Invalid, fmt.Errorf("bad %s entry %q: want node@host:port", cairnhttp.HeaderChain, first))
	}
	return &hop{node, addr}, rest, nil
}

func (d *dataServer) handleGet(w http.ResponseWriter, r *http.Request) {
	err := d.get(w, r)
	if err != nil {
		d.metrics.reads.WithLabelValues(cairn.KindOf(err).String()).Inc()
		if w.Header().Get(cairnhttp.HeaderBlocks) == "" {
			cairnhttp.WriteError(w, err)
		}
		return
	}
	d.metrics.reads.WithLabelValues("ok").Inc()
}

func (d *dataServer) get(w http.ResponseWriter, r *http.Request) error {
	const op = "node.get"
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err != nil {
		return cairn.E(op, err)
	}
	off, n1, err := rangeParams(r)
	if err != nil {
		return cairn.E(op, cairn.PathArg(id.String()), err)
	}
	var all bool
	switch v := r.URL.Query().Get("crcs"); v {
	case "":
	case "all":
		all = true
	default:
		return cairn.E(op, cairn.PathArg(id.String()), cairn.Invalid, fmt.Errorf("bad crcs %q: want all, or no crcs parameter", v))
	}
	info, err := d.store.Stat(id)
	if err != nil {
		return err
	}
	if n1 < 0 || n1 > info.Length-off {
		n1 = info.Length - off
	}
	h := w.Header()
	h.Set(cairnhttp.HeaderChunkLength, strconv.FormatInt(info.Length, 10))
	if info.Length == 0 || n1 <= 0 {
		h.Set(cairnhttp.HeaderBlocks, "0")
		h.Set(cairnhttp.HeaderRangeOffset, strconv.FormatInt(off, 10))
		h.Set(cairnhttp.HeaderRangeLength, "0")
		h.Set("Content-Length", "0")
		return nil
	}
	// With crcs=all the reader gets the CRCs of every sub-block of the
	// chunk, to check them against the whole-chunk CRC it trusts, and
	// then the range's blocks against their CRCs.
	open := d.store.OpenRange
	if all {
		open = d.store.OpenChunkRange
	}
	rg, err := open(id, off, n1)
	if err != nil {
		return err
	}
	defer rg.Close()
	blockCRCs := rg.CRCs
	if all {
		blockCRCs = rg.ChunkCRCs
	}
	crcs := make([]byte, 4*len(blockCRCs))
	for i, c := range blockCRCs {
		binary.LittleEndian.PutUint32(crcs[4*i:], c)
	}
	h.Set(cairnhttp.HeaderBlockSize, strconv.Itoa(rg.BlockSize))
	h.Set(cairnhttp.HeaderRangeOffset, strconv.FormatInt(rg.Off, 10))
	h.Set(cairnhttp.HeaderRangeLength, strconv.FormatInt(rg.Length, 10))
	h.Set(cairnhttp.HeaderBlocks, strconv.Itoa(len(blockCRCs)))
	h.Set("Content-Length", strconv.FormatInt(int64(len(crcs))+rg.Length, 10))
	h.Set("Content-Type", "application/octet-stream")
	if _, err := w.Write(crcs); err != nil {
		return err
	}
	sent, err := rg.WriteTo(w)
	d.metrics.readBytes.Add(float64(sent))
	return err
}

func rangeParams(r *http.Request) (off, n int64, err error) {
	q := r.URL.Query()
	n = -1
	if s := q.Get("offset"); s != "" {
		if off, err = strconv.ParseInt(s, 10, 64); err != nil || off < 0 {
			return 0, 0, cairn.E(cairn.Invalid, fmt.Errorf("bad offset %q", s))
		}
	}
	if s := q.Get("length"); s != "" {
		if n, err = strconv.ParseInt(s, 10, 64); err != nil || n < 0 {
			return 0, 0, cairn.E(cairn.Invalid, fmt.Errorf("bad length %q", s))
		}
	}
	return off, n, nil
}

func (d *dataServer) handleHead(w http.ResponseWriter, r *http.Request) {
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err == nil {
		st, serr := d.store.Stat(id)
		if serr == nil {
			w.Header().Set(cairnhttp.HeaderChunkLength, strconv.FormatInt(st.Length, 10))
			w.Header().Set(cairnhttp.HeaderCRC, fmt.Sprintf("%08x", st.CRC))
			w.WriteHeader(http.StatusOK)
			return
		}
		err = serr
	}
	w.Header().Set(cairnhttp.HeaderKind, strconv.Itoa(int(cairn.KindOf(err))))
	w.WriteHeader(cairnhttp.Status(err))
}

func (d *dataServer) handleDelete(w http.ResponseWriter, r *http.Request) {
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err == nil {
		err = d.store.Delete(r.Context(), id)
	}
	if err != nil && !errors.Is(err, cairn.NotFound) {
		cairnhttp.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
