package node_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/volume"
)

// testBlockSize is the CRC sub-block size of the test nodes: small, so a
// chunk of a few tens of KiB has several blocks.
const testBlockSize = 4096

// testNode is a data node serving its data port on an httptest server,
// without a metadata service.
type testNode struct {
	*node.Node
	Addr string // host:port of the data port
	Dir  string
	srv  *httptest.Server
}

// startNode starts a data node with no reachable metadata service (its
// heartbeat loop tries to register once, then waits an hour); edit may
// change its config. Both stop at the end of the test.
func startNode(t *testing.T, edit func(*node.Config)) *testNode {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	addr := srv.Listener.Addr().String()
	cfg := node.Config{
		Dir:               t.TempDir(),
		Advertise:         addr,
		Meta:              []string{"127.0.0.1:1"},
		HeartbeatInterval: time.Hour,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Volume:            volume.Options{BlockSize: testBlockSize},
	}
	if edit != nil {
		edit(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		srv.Listener.Close()
		t.Fatalf("node.New: %v", err)
	}
	if err := n.Start(t.Context()); err != nil {
		srv.Listener.Close()
		t.Fatalf("node.Start: %v", err)
	}
	srv.Config.Handler = n.Handler()
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if err := n.Close(); err != nil {
			t.Errorf("closing node: %v", err)
		}
	})
	return &testNode{Node: n, Addr: addr, Dir: cfg.Dir, srv: srv}
}

// hop is the node's entry in a Cairn-Chain header.
func (tn *testNode) hop() string { return string(tn.ID()) + "@" + tn.Addr }

// deadAddr returns a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 42))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func crcHex(b []byte) string { return fmt.Sprintf("%08x", checksum.CRC32C(b)) }

func chunkURL(addr string, id any) string { return fmt.Sprintf("http://%s/v1/chunks/%v", addr, id) }

// putReq sends PUT with the given CRC header (none if crc is "") and chain
// header (none if "").
func putReq(t *testing.T, addr, id string, data []byte, crc, chain string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, chunkURL(addr, id), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if crc != "" {
		req.Header.Set(cairnhttp.HeaderCRC, crc)
	}
	if chain != "" {
		req.Header.Set(cairnhttp.HeaderChain, chain)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", id, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// putOK stores data under id through addr with the given chain and returns
// the decoded reply.
func putOK(t *testing.T, addr string, id cairn.ChunkID, data []byte, chain string) node.PutResult {
	t.Helper()
	resp := putReq(t, addr, id.String(), data, crcHex(data), chain)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: status %d: %v", id, resp.StatusCode, cairnhttp.ReadError(resp))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("PUT reply Content-Type %q, want application/json", ct)
	}
	var res node.PutResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		t.Fatalf("decoding PUT reply: %v", err)
	}
	return res
}

// wantError checks that resp is an error response of the given status and kind.
func wantError(t *testing.T, resp *http.Response, status int, kind cairn.Kind) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d", resp.StatusCode, status)
	}
	err := cairnhttp.ReadError(resp)
	if !errors.Is(err, kind) {
		t.Errorf("error %v (kind %v), want kind %v", err, cairn.KindOf(err), kind)
	}
}

// rangeReply is a parsed GET response.
type rangeReply struct {
	ChunkLength int64
	BlockSize   int
	Off, Length int64
	CRCs        []uint32
	Data        []byte
}

// getRange reads chunk id from addr with the raw query string q (may be
// empty) and parses a 200 reply; any other status fails the test.
func getRange(t *testing.T, addr string, id cairn.ChunkID, q string) rangeReply {
	t.Helper()
	u := chunkURL(addr, id)
	if q != "" {
		u += "?" + q
	}
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %v", u, resp.StatusCode, cairnhttp.ReadError(resp))
	}
	num := func(name string) int64 {
		t.Helper()
		v, err := strconv.ParseInt(resp.Header.Get(name), 10, 64)
		if err != nil {
			t.Fatalf("GET %s: header %s=%q: %v", u, name, resp.Header.Get(name), err)
		}
		return v
	}
	var r rangeReply
	r.ChunkLength = num(cairnhttp.HeaderChunkLength)
	r.Off = num(cairnhttp.HeaderRangeOffset)
	r.Length = num(cairnhttp.HeaderRangeLength)
	k := num(cairnhttp.HeaderBlocks)
	if k > 0 {
		r.BlockSize = int(num(cairnhttp.HeaderBlockSize))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", u, err)
	}
	if int64(len(body)) != 4*k+r.Length || resp.ContentLength != int64(len(body)) {
		t.Fatalf("GET %s: body %d bytes, Content-Length %d, want 4*%d+%d", u, len(body), resp.ContentLength, k, r.Length)
	}
	for i := range k {
		r.CRCs = append(r.CRCs, binary.LittleEndian.Uint32(body[4*i:]))
	}
	r.Data = body[4*k:]
	return r
}

// stored reports whether tn's store holds id, failing on errors other than
// NotFound.
func (tn *testNode) stored(t *testing.T, id cairn.ChunkID) bool {
	t.Helper()
	_, err := tn.Store().Stat(id)
	if err != nil && !errors.Is(err, cairn.NotFound) {
		t.Fatalf("Stat %s on %s: %v", id, tn.ID(), err)
	}
	return err == nil
}

func TestPutGetHeadDelete(t *testing.T) {
	tn := startNode(t, nil)
	data := randomBytes(5*testBlockSize + 123)
	id := cairn.NewChunkID()

	res := putOK(t, tn.Addr, id, data, "")
	if len(res.Stored) != 1 || res.Stored[0] != string(tn.ID()) || len(res.Failed) != 0 {
		t.Fatalf("PUT reply %+v, want stored [%s] and nothing failed", res, tn.ID())
	}

	r := getRange(t, tn.Addr, id, "")
	if r.ChunkLength != int64(len(data)) || r.Off != 0 || r.Length != int64(len(data)) || r.BlockSize != testBlockSize {
		t.Fatalf("GET headers: chunk %d, range %d+%d, block %d", r.ChunkLength, r.Off, r.Length, r.BlockSize)
	}
	if len(r.CRCs) != 6 {
		t.Errorf("%d block CRCs, want 6", len(r.CRCs))
	}
	if err := volume.VerifyBlocks(r.Data, r.BlockSize, r.CRCs); err != nil {
		t.Errorf("VerifyBlocks: %v", err)
	}
	whole := uint32(0)
	for i, c := range r.CRCs {
		whole = checksum.CombineCRC32C(whole, c, int64(min(r.BlockSize, len(r.Data)-i*r.BlockSize)))
	}
	if whole != checksum.CRC32C(data) {
		t.Errorf("combined block CRCs %08x, want whole-chunk CRC %08x", whole, checksum.CRC32C(data))
	}
	if !bytes.Equal(r.Data, data) {
		t.Error("GET returned different bytes")
	}

	req, _ := http.NewRequest(http.MethodHead, chunkURL(tn.Addr, id), nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK ||
		resp.Header.Get(cairnhttp.HeaderChunkLength) != strconv.Itoa(len(data)) ||
		resp.Header.Get(cairnhttp.HeaderCRC) != crcHex(data) {
		t.Errorf("HEAD: status %d, length %q, crc %q; want 200, %d, %s", resp.StatusCode,
			resp.Header.Get(cairnhttp.HeaderChunkLength), resp.Header.Get(cairnhttp.HeaderCRC), len(data), crcHex(data))
	}

	for range 2 { // deleting is idempotent
		req, _ = http.NewRequest(http.MethodDelete, chunkURL(tn.Addr, id), nil)
		resp, err = httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Errorf("DELETE: status %d, want 204", resp.StatusCode)
		}
	}

	resp, err = httpClient.Get(chunkURL(tn.Addr, id))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	wantError(t, resp, http.StatusNotFound, cairn.NotFound)

	req, _ = http.NewRequest(http.MethodHead, chunkURL(tn.Addr, id), nil)
	resp, err = httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get(cairnhttp.HeaderKind) != strconv.Itoa(int(cairn.NotFound)) {
		t.Errorf("HEAD after DELETE: status %d kind %q, want 404 kind %d", resp.StatusCode, resp.Header.Get(cairnhttp.HeaderKind), cairn.NotFound)
	}
}

func TestEmptyChunk(t *testing.T) {
	tn := startNode(t, nil)
	id := cairn.NewChunkID()
	putOK(t, tn.Addr, id, nil, "")
	r := getRange(t, tn.Addr, id, "")
	if r.ChunkLength != 0 || r.Length != 0 || len(r.CRCs) != 0 || len(r.Data) != 0 {
		t.Errorf("GET of empty chunk: %+v", r)
	}
}

func TestPutIdempotentAndExists(t *testing.T) {
	tn := startNode(t, nil)
	id := cairn.NewChunkID()
	data := randomBytes(3000)
	putOK(t, tn.Addr, id, data, "")
	res := putOK(t, tn.Addr, id, data, "")
	if len(res.Stored) != 1 || res.Stored[0] != string(tn.ID()) {
		t.Errorf("repeated PUT reply %+v", res)
	}
	if st := tn.Store().Stats(); st.Chunks != 1 {
		t.Errorf("%d chunks stored after a repeated PUT, want 1", st.Chunks)
	}

	other := randomBytes(3001)
	resp := putReq(t, tn.Addr, id.String(), other, crcHex(other), "")
	wantError(t, resp, http.StatusConflict, cairn.Exists)
	r := getRange(t, tn.Addr, id, "")
	if !bytes.Equal(r.Data, data) {
		t.Error("a conflicting PUT changed the stored chunk")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	tn := startNode(t, nil)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := httpClient.Get("http://" + tn.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q, want 200", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz of an unregistered node: %d %q, want 503", code, body)
	}
	if tn.Ready() {
		t.Error("Ready() is true without registration")
	}

	data := randomBytes(100)
	id := cairn.NewChunkID()
	putOK(t, tn.Addr, id, data, "")
	getRange(t, tn.Addr, id, "")
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`cairn_node_chunk_writes_total{result="ok"} 1`,
		`cairn_node_chunk_reads_total{result="ok"} 1`,
		`cairn_node_chunk_write_bytes_total 100`,
		`cairn_node_chunks 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestCloseWithUnreachableMeta starts the heartbeat loop against a
// metadata address nothing listens on, with registration attempts that may
// retry for an hour: the node stays unready, keeps serving chunks, and
// Close ends the attempt in flight instead of waiting it out.
func TestCloseWithUnreachableMeta(t *testing.T) {
	const retryFor = time.Hour
	tn := startNode(t, func(c *node.Config) { c.Meta, c.MetaTimeout = []string{deadAddr(t)}, retryFor })
	id := cairn.NewChunkID()
	putOK(t, tn.Addr, id, randomBytes(10), "")
	if tn.Ready() {
		t.Error("Ready() is true with no metadata service")
	}
	tn.srv.Close()
	closed := make(chan error, 1)
	go func() { closed <- tn.Close() }()
	// The limit only keeps a broken Close from hanging the test; it is
	// far inside the hour a registration attempt may take.
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Errorf("Close still waits for a registration attempt that may retry for %v: beat's context does not end when Close "+
			"closes n.stop; derive it from a context that Close cancels before n.wg.Wait()", retryFor)
		<-closed
	}
}
