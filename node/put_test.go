package node_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/faultnet"
	"github.com/cairnfs/cairn/node"
)

func ids(nodes ...*testNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, string(n.ID()))
	}
	return out
}

func TestChainReplication(t *testing.T) {
	a, b, c := startNode(t, nil), startNode(t, nil), startNode(t, nil)
	data := randomBytes(300 << 10) // larger than the pipe and socket buffers
	id := cairn.NewChunkID()
	res := putOK(t, a.Addr, id, data, b.hop()+","+c.hop())
	if want := ids(a, b, c); !slices.Equal(res.Stored, want) || len(res.Failed) != 0 {
		t.Fatalf("PUT reply %+v, want stored %v in chain order and nothing failed", res, want)
	}
	for _, n := range []*testNode{a, b, c} {
		r := getRange(t, n.Addr, id, "")
		if !bytes.Equal(r.Data, data) {
			t.Errorf("node %s returned different bytes", n.ID())
		}
		if err := n.Store().Verify(id); err != nil {
			t.Errorf("node %s: Verify: %v", n.ID(), err)
		}
	}
}

func TestChainDeadHop(t *testing.T) {
	data := randomBytes(100 << 10)
	t.Run("next hop", func(t *testing.T) {
		a := startNode(t, nil)
		dead := deadAddr(t)
		id := cairn.NewChunkID()
		res := putOK(t, a.Addr, id, data, "node-dead@"+dead)
		if !slices.Equal(res.Stored, ids(a)) {
			t.Errorf("stored %v, want %v", res.Stored, ids(a))
		}
		if len(res.Failed) != 1 || res.Failed[0].Node != "node-dead" || res.Failed[0].Addr != dead ||
			res.Failed[0].Kind != uint8(cairn.Unavailable) || res.Failed[0].Error == "" {
			t.Errorf("failed %+v, want node-dead at %s, Unavailable, with an error", res.Failed, dead)
		}
		if !a.stored(t, id) {
			t.Error("A does not hold the chunk")
		}
	})
	t.Run("second hop", func(t *testing.T) {
		a, b := startNode(t, nil), startNode(t, nil)
		dead := deadAddr(t)
		id := cairn.NewChunkID()
		// Nodes after a failed one are in neither list.
		res := putOK(t, a.Addr, id, data, b.hop()+",node-dead@"+dead+",node-after@"+deadAddr(t))
		if !slices.Equal(res.Stored, ids(a, b)) {
			t.Errorf("stored %v, want %v", res.Stored, ids(a, b))
		}
		if len(res.Failed) != 1 || res.Failed[0].Node != "node-dead" || res.Failed[0].Addr != dead ||
			res.Failed[0].Kind != uint8(cairn.Unavailable) {
			t.Errorf("failed %+v, want just node-dead at %s, Unavailable", res.Failed, dead)
		}
		if !a.stored(t, id) || !b.stored(t, id) {
			t.Error("A or B does not hold the chunk")
		}
	})
}

// TestChainHopRefuses has the next hop refuse the chunk before reading its
// body (it is over that node's size limit): the forward must not block the
// upstream node, which stores the chunk and reports the refusal.
func TestChainHopRefuses(t *testing.T) {
	a := startNode(t, func(c *node.Config) { c.MaxChunkSize = 4 << 20 })
	b := startNode(t, func(c *node.Config) { c.MaxChunkSize = 64 << 10 })
	data := randomBytes(2 << 20)
	id := cairn.NewChunkID()
	res := putOK(t, a.Addr, id, data, b.hop())
	if !slices.Equal(res.Stored, ids(a)) {
		t.Errorf("stored %v, want %v", res.Stored, ids(a))
	}
	if len(res.Failed) != 1 || res.Failed[0].Node != string(b.ID()) || res.Failed[0].Kind != uint8(cairn.Invalid) {
		t.Errorf("failed %+v, want %s with kind Invalid", res.Failed, b.ID())
	}
	if b.stored(t, id) {
		t.Error("B stored a chunk over its size limit")
	}
}

func TestPutWrongCRC(t *testing.T) {
	a, b, c := startNode(t, nil), startNode(t, nil), startNode(t, nil)
	data := randomBytes(50 << 10)
	id := cairn.NewChunkID()
	crc := fmt.Sprintf("%08x", ^uint32(0)^0x1234)
	if crc == crcHex(data) {
		t.Fatal("test data happens to have the wrong CRC")
	}
	resp := putReq(t, a.Addr, id.String(), data, crc, b.hop()+","+c.hop())
	wantError(t, resp, http.StatusUnprocessableEntity, cairn.Corrupt)
	for _, n := range []*testNode{a, b, c} {
		if n.stored(t, id) {
			t.Errorf("node %s stored a chunk with a wrong CRC", n.ID())
		}
	}
}

func TestPutInvalid(t *testing.T) {
	a := startNode(t, func(c *node.Config) { c.MaxChunkSize = 64 << 10 })
	b := startNode(t, nil)
	good := randomBytes(1000)
	big := randomBytes(64<<10 + 1)
	for _, tc := range []struct {
		name       string
		id         string
		data       []byte
		crc, chain string
	}{
		{"missing crc", "", good, "", ""},
		{"bad crc", "", good, "xyz", ""},
		{"crc too wide", "", good, "1" + crcHex(good), ""},
		{"bad id", "abc", good, crcHex(good), ""},
		{"id not hex", strings.Repeat("g", 32), good, crcHex(good), ""},
		{"chain without @", "", good, crcHex(good), "nodeonly"},
		{"chain without node", "", good, crcHex(good), "@" + b.Addr},
		{"chain without addr", "", good, crcHex(good), "node-x@"},
		{"over max size", "", big, crcHex(big), b.hop()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := cairn.NewChunkID()
			sid := tc.id
			if sid == "" {
				sid = id.String()
			}
			resp := putReq(t, a.Addr, sid, tc.data, tc.crc, tc.chain)
			wantError(t, resp, http.StatusBadRequest, cairn.Invalid)
			if a.stored(t, id) || b.stored(t, id) {
				t.Error("an invalid PUT stored the chunk")
			}
		})
	}

	t.Run("no content length", func(t *testing.T) {
		id := cairn.NewChunkID()
		req, err := http.NewRequest(http.MethodPut, chunkURL(a.Addr, id), io.MultiReader(bytes.NewReader(good)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(cairnhttp.HeaderCRC, crcHex(good))
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		wantError(t, resp, http.StatusBadRequest, cairn.Invalid)
		if a.stored(t, id) {
			t.Error("a chunked PUT stored the chunk")
		}
	})
}

// TestPutTruncatedBody sends fewer bytes than Content-Length and closes the
// connection: neither the node nor the next hop of the chain may keep the
// chunk.
func TestPutTruncatedBody(t *testing.T) {
	a, b := startNode(t, nil), startNode(t, nil)
	data := randomBytes(1000)
	id := cairn.NewChunkID()

	conn, err := net.DialTimeout("tcp", a.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "PUT /v1/chunks/%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s: %s\r\n%s: %s\r\n\r\n",
		id, a.Addr, len(data), cairnhttp.HeaderCRC, crcHex(data), cairnhttp.HeaderChain, b.hop())
	if _, err := conn.Write(data[:10]); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the reply to a truncated PUT: %v", err)
	}
	wantError(t, resp, http.StatusBadRequest, cairn.Invalid)
	resp.Body.Close()

	// A answers after its forward to B ended; B's handler may still be
	// unwinding. Wait (bounded) for B to count a failed write.
	// B may also never have seen the chunk, so the wait ends either way.
	_ = await.Poll(context.Background(), 5*time.Second, func() error {
		if !strings.Contains(metrics(t, b.Addr), `cairn_node_chunk_writes_total{result="invalid argument"}`) {
			return errors.New("B has not counted a failed write")
		}
		return nil
	})
	if a.stored(t, id) {
		t.Error("A stored a truncated chunk")
	}
	if b.stored(t, id) {
		t.Error("B stored a truncated chunk")
	}
}

func metrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := httpClient.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChainFrozenHop: a next replica that stops taking bytes mid-chunk, or
// takes them all and never answers (a frozen process, a one-way
// partition), is given up after the forward patience; the chunk is stored
// here and the frozen hop is reported failed, so the client can rewrite
// the chunk elsewhere instead of waiting out the freeze.
func TestChainFrozenHop(t *testing.T) {
	data := randomBytes(2 << 20) // more than the socket buffers hold
	for _, tc := range []struct {
		name string
		dir  faultnet.Direction
	}{
		{"stops taking bytes", faultnet.Both},
		{"never answers", faultnet.Down},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startNode(t, func(c *node.Config) { c.ForwardPatience = 300 * time.Millisecond })
			b := startNode(t, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			frozen := faultnet.NewProxy(ln, b.Addr)
			defer frozen.Close()
			frozen.Set(tc.dir, faultnet.Fault{Mode: faultnet.Drop})
			id := cairn.NewChunkID()
			res := putOK(t, a.Addr, id, data, string(b.ID())+"@"+frozen.Addr())
			if !slices.Equal(res.Stored, ids(a)) {
				t.Errorf("stored %v, want only %v", res.Stored, ids(a))
			}
			if len(res.Failed) != 1 || res.Failed[0].Node != string(b.ID()) || !strings.Contains(res.Failed[0].Error, "no progress") {
				t.Errorf("failed %+v, want %s given up for making no progress", res.Failed, b.ID())
			}
			if r := getRange(t, a.Addr, id, ""); !bytes.Equal(r.Data, data) {
				t.Error("the first replica's copy differs")
			}
		})
	}
}
