package node

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
)

// Handler returns the data port's HTTP handler:
//
//	PUT    /v1/chunks/{id}   store a chunk and forward it down the chain
//	GET    /v1/chunks/{id}   read a range: CRCs of the covered sub-blocks, then the raw bytes
//	HEAD   /v1/chunks/{id}   stat
//	DELETE /v1/chunks/{id}   delete (tombstone)
//	GET    /healthz /readyz /metrics
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/chunks/{id}", n.handlePut)
	mux.HandleFunc("GET /v1/chunks/{id}", n.handleGet)
	mux.HandleFunc("HEAD /v1/chunks/{id}", n.handleHead)
	mux.HandleFunc("DELETE /v1/chunks/{id}", n.handleDelete)
	mux.HandleFunc("POST /v1/chunks/{id}/replicate", n.handleReplicate)
	mux.HandleFunc("POST /v1/chunks/{id}/verify", n.handleVerify)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !n.healthy.Load() {
			http.Error(w, "disk unhealthy: "+n.healthMsg.Load().(string), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := n.ReadyStatus(); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.cfg.Registry, promhttp.HandlerOpts{}))
	return mux
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

// getBuf returns a buffer of n bytes for a chunk body, from the node's
// own pool (each node in a process keeps its own).
func (n *Node) getBuf(size int64) []byte {
	if b, ok := n.bufs.Get().(*[]byte); ok && int64(cap(*b)) >= size {
		return (*b)[:size]
	}
	return make([]byte, size, max(size, 4<<10))
}

// putBuf returns b to the pool unless it is too big to keep.
func (n *Node) putBuf(b []byte) {
	if cap(b) <= 16<<20 {
		n.bufs.Put(&b)
	}
}

func (n *Node) handlePut(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	res, err := n.put(r)
	if err != nil {
		n.metrics.writes.WithLabelValues(cairn.KindOf(err).String()).Inc()
		cairnhttp.WriteError(w, err)
		return
	}
	n.metrics.writes.WithLabelValues("ok").Inc()
	n.metrics.writeSecond.Observe(time.Since(start).Seconds())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}

// put receives a chunk, streams it to the next replica while it arrives,
// verifies and stores it durably, then waits for the rest of the chain.
func (n *Node) put(r *http.Request) (*PutResult, error) {
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
	if size < 0 || size > n.cfg.MaxChunkSize {
		return nil, cairn.E(op, cairn.PathArg(id.String()), cairn.Invalid, fmt.Errorf("chunk length %d: need Content-Length between 0 and %d", size, n.cfg.MaxChunkSize))
	}
	next, rest, err := parseChain(r.Header.Get(cairnhttp.HeaderChain))
	if err != nil {
		return nil, cairn.E(op, err)
	}
	buf := n.getBuf(size)
	defer n.putBuf(buf)

	var fwd *forward
	body := io.Reader(r.Body)
	if next != nil {
		fwd = n.startForward(r.Context(), id, uint32(crc64), size, *next, rest)
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
	if err := n.store.Put(r.Context(), id, buf, uint32(crc64)); err != nil {
		if k := cairn.KindOf(err); k != cairn.Corrupt && k != cairn.Exists && k != cairn.Canceled && k != cairn.NoSpace && k != cairn.Invalid {
			n.diskFailed.Store(true)
			n.markUnhealthy(err)
		}
		if fwd != nil {
			fwd.wait()
		}
		return nil, err
	}
	n.metrics.writeBytes.Add(float64(size))
	res := &PutResult{Stored: []string{string(n.id)}}
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

func (n *Node) handleGet(w http.ResponseWriter, r *http.Request) {
	err := n.get(w, r)
	if err != nil {
		n.metrics.reads.WithLabelValues(cairn.KindOf(err).String()).Inc()
		if w.Header().Get(cairnhttp.HeaderBlocks) == "" {
			cairnhttp.WriteError(w, err)
		}
		return
	}
	n.metrics.reads.WithLabelValues("ok").Inc()
}

func (n *Node) get(w http.ResponseWriter, r *http.Request) error {
	const op = "node.get"
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err != nil {
		return cairn.E(op, err)
	}
	off, n1, err := rangeParams(r)
	if err != nil {
		return cairn.E(op, cairn.PathArg(id.String()), err)
	}
	info, err := n.store.Stat(id)
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
	rg, err := n.store.OpenRange(id, off, n1)
	if err != nil {
		return err
	}
	defer rg.Close()
	crcs := make([]byte, 4*len(rg.CRCs))
	for i, c := range rg.CRCs {
		binary.LittleEndian.PutUint32(crcs[4*i:], c)
	}
	h.Set(cairnhttp.HeaderBlockSize, strconv.Itoa(rg.BlockSize))
	h.Set(cairnhttp.HeaderRangeOffset, strconv.FormatInt(rg.Off, 10))
	h.Set(cairnhttp.HeaderRangeLength, strconv.FormatInt(rg.Length, 10))
	h.Set(cairnhttp.HeaderBlocks, strconv.Itoa(len(rg.CRCs)))
	h.Set("Content-Length", strconv.FormatInt(int64(len(crcs))+rg.Length, 10))
	h.Set("Content-Type", "application/octet-stream")
	if _, err := w.Write(crcs); err != nil {
		return err
	}
	sent, err := rg.WriteTo(w)
	n.metrics.readBytes.Add(float64(sent))
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

func (n *Node) handleHead(w http.ResponseWriter, r *http.Request) {
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err == nil {
		st, serr := n.store.Stat(id)
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

func (n *Node) handleDelete(w http.ResponseWriter, r *http.Request) {
	id, err := cairn.ParseChunkID(r.PathValue("id"))
	if err == nil {
		err = n.store.Delete(r.Context(), id)
	}
	if err != nil && !errors.Is(err, cairn.NotFound) {
		cairnhttp.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
