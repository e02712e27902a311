package integration

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/token"
)

// chunkReq is one request to a data node's chunk routes.
type chunkReq struct {
	method, addr string
	id           cairn.ChunkID
	suffix       string // "/verify"
	tok          []byte
	body         []byte
}

// send makes r with hc and returns the status, the error kind the node
// sent (Other if none) and the body.
func (r chunkReq) send(t *testing.T, c *testcluster.Cluster, hc *http.Client) (int, cairn.Kind, []byte) {
	t.Helper()
	req, err := http.NewRequest(r.method, c.URL(r.addr, "/v1/chunks/"+r.id.String()+r.suffix), bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.body != nil {
		req.Header.Set(cairnhttp.HeaderCRC, fmt.Sprintf("%08x", checksum.CRC32C(r.body)))
	}
	if r.tok != nil {
		req.Header.Set(cairnhttp.HeaderToken, base64.RawURLEncoding.EncodeToString(r.tok))
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.id, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	k, err := strconv.Atoi(resp.Header.Get(cairnhttp.HeaderKind))
	if err != nil {
		k = int(cairn.Other)
	}
	return resp.StatusCode, cairn.Kind(k), body
}

// signer signs claims with the current key of c's leader.
func signer(t *testing.T, c *testcluster.Cluster) func(op token.Op, exp time.Time, ids ...cairn.ChunkID) []byte {
	kr := c.Keyring()
	return func(op token.Op, exp time.Time, ids ...cairn.ChunkID) []byte {
		t.Helper()
		tok, err := kr.Sign(token.Claims{Op: op, Expiry: exp, User: "mallory", Chunks: ids})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

// TestTokensGuardChunks: a user's certificate alone reads, writes and
// verifies nothing on a data node; only a valid token for the operation
// and the chunk does.
func TestTokensGuardChunks(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Nodes: 2, Replication: 2})
	cl := c.Client()
	data := randBytes(1, 4<<10)
	mustWrite(t, cl, "/t/a", data)
	mustMatch(t, cl, "/t/a", data)
	f, err := cl.Open(context.Background(), "/t/a")
	if err != nil {
		t.Fatal(err)
	}
	ch := f.Chunks()[0]
	addr := ch.Replicas[0].Addr
	mallory := c.HTTPClient(c.Cert("mallory", pki.User))
	asNode := c.HTTPClient(c.Cert("node", pki.Node))
	sign := signer(t, c)
	hour := time.Now().Add(time.Hour)
	fresh := cairn.NewChunkID()
	_, strangerKey, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := token.Mint(token.Claims{Op: token.Read, KeyID: 12345, Expiry: hour, Chunks: []cairn.ChunkID{ch.ID}}, strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	forged := sign(token.Read, hour, ch.ID)
	forged[len(forged)-1] ^= 1

	for _, tc := range []struct {
		name string
		req  chunkReq
		want string // in the refusal
	}{
		{"GET without a token", chunkReq{method: "GET", id: ch.ID}, string(token.Missing)},
		{"GET with an expired token", chunkReq{method: "GET", id: ch.ID, tok: sign(token.Read, time.Now().Add(-time.Hour), ch.ID)}, string(token.Expired)},
		{"GET with a token for another chunk", chunkReq{method: "GET", id: ch.ID, tok: sign(token.Read, hour, fresh)}, string(token.WrongChunk)},
		{"GET with a token of a key the cluster does not know", chunkReq{method: "GET", id: ch.ID, tok: stranger}, string(token.UnknownKey)},
		{"GET with a forged signature", chunkReq{method: "GET", id: ch.ID, tok: forged}, string(token.BadSignature)},
		{"GET with a write token", chunkReq{method: "GET", id: ch.ID, tok: sign(token.Write, hour, ch.ID)}, string(token.WrongOp)},
		{"HEAD without a token", chunkReq{method: "HEAD", id: ch.ID}, ""},
		{"HEAD with a token for another chunk", chunkReq{method: "HEAD", id: ch.ID, tok: sign(token.Read, hour, fresh)}, ""},
		{"verify without a token", chunkReq{method: "POST", id: ch.ID, suffix: "/verify"}, string(token.Missing)},
		{"verify with an expired token", chunkReq{method: "POST", id: ch.ID, suffix: "/verify", tok: sign(token.Read, time.Now().Add(-time.Hour), ch.ID)}, string(token.Expired)},
		{"PUT without a token", chunkReq{method: "PUT", id: fresh, body: data}, string(token.Missing)},
		{"PUT with a read token", chunkReq{method: "PUT", id: fresh, body: data, tok: sign(token.Read, hour, fresh)}, string(token.WrongOp)},
		{"PUT with an expired write token", chunkReq{method: "PUT", id: fresh, body: data, tok: sign(token.Write, time.Now().Add(-time.Hour), fresh)}, string(token.Expired)},
		{"PUT with a write token for another chunk", chunkReq{method: "PUT", id: fresh, body: data, tok: sign(token.Write, hour, ch.ID)}, string(token.WrongChunk)},
		{"PUT with a token of a key the cluster does not know", chunkReq{method: "PUT", id: fresh, body: data, tok: stranger}, string(token.UnknownKey)},
		{"DELETE with a write token", chunkReq{method: "DELETE", id: ch.ID, tok: sign(token.Write, hour, ch.ID)}, "only metadata peers and data nodes"},
		{"replicate with a write token", chunkReq{method: "POST", id: ch.ID, suffix: "/replicate", tok: sign(token.Write, hour, ch.ID)}, "only metadata peers and data nodes"},
	} {
		tc.req.addr = addr
		status, kind, body := tc.req.send(t, c, mallory)
		if status != http.StatusForbidden || kind != cairn.Permission {
			t.Errorf("%s: status %d, kind %v, want 403 Permission (%s)", tc.name, status, kind, body)
			continue
		}
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: refusal %q does not say %q", tc.name, body, tc.want)
		}
		if bytes.Contains(body, data[:32]) {
			t.Errorf("%s: the refusal carries chunk data", tc.name)
		}
	}
	// Nothing was stored or deleted.
	for _, n := range ch.Replicas {
		if status, _, _ := (chunkReq{method: "HEAD", addr: n.Addr, id: fresh}).send(t, c, asNode); status != http.StatusNotFound {
			t.Errorf("chunk %s on %s after refused PUTs: HEAD answers %d, want 404", fresh, n.Addr, status)
		}
	}
	mustMatch(t, cl, "/t/a", data)

	// The right tokens open the doors.
	read := sign(token.Read, hour, fresh, ch.ID)
	for _, tc := range []chunkReq{
		{method: "GET", id: ch.ID, tok: read},
		{method: "HEAD", id: ch.ID, tok: read},
		{method: "POST", id: ch.ID, suffix: "/verify", tok: read},
		{method: "PUT", id: fresh, body: data, tok: sign(token.Write, hour, fresh)},
		{method: "HEAD", id: fresh, tok: read},
	} {
		tc.addr = addr
		if status, _, body := tc.send(t, c, mallory); status != http.StatusOK && status != http.StatusNoContent {
			t.Errorf("%s %s%s with a valid token: %d %s", tc.method, tc.id, tc.suffix, status, body)
		}
	}
}

// TestTokensOutliveRotationAndLeaderChange: tokens minted before a key
// rotation, and by a leader that has since handed over, still verify
// until they expire: the keys are replicated, retired ones kept.
func TestTokensOutliveRotationAndLeaderChange(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 2, Replication: 2})
	cl := c.Client()
	ctx := context.Background()
	data := randBytes(2, 4<<10)
	mustWrite(t, cl, "/t/r", data)
	f, err := cl.Open(ctx, "/t/r") // the SDK holds tokens of the first key
	if err != nil {
		t.Fatal(err)
	}
	ch := f.Chunks()[0]
	mallory := c.HTTPClient(c.Cert("mallory", pki.User))
	hour := time.Now().Add(time.Hour)
	before := signer(t, c)(token.Read, hour, ch.ID)
	if err := c.Keyring().Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// The new key signs once the nodes have had time to learn it.
	var after []byte
	await.Until(t, 10*time.Second, func() error {
		if after = signer(t, c)(token.Read, hour, ch.ID); keyOf(t, after) == keyOf(t, before) {
			return errors.New("the old key still signs")
		}
		return nil
	})
	// readable checks that every replica serves the chunk against tok.
	readable := func(tok []byte) error {
		for _, r := range ch.Replicas {
			if status, _, body := (chunkReq{method: "GET", addr: r.Addr, id: ch.ID, tok: tok}).send(t, c, mallory); status != http.StatusOK {
				return fmt.Errorf("GET from %s: %d %s", r.Addr, status, body)
			}
		}
		return nil
	}
	if err := readable(after); err != nil {
		t.Fatalf("token of the new key the moment it signs: %v", err)
	}
	if err := readable(before); err != nil {
		t.Fatalf("token minted before the rotation: %v", err)
	}
	buf := make([]byte, len(data))
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("the SDK's tokens from before the rotation: %v", err)
	}

	old := c.Leader()
	if err := c.Metas[old].Proc.Server.TransferLeadership(ctx); err != nil {
		t.Fatal(err)
	}
	await.Until(t, 20*time.Second, func() error {
		if l := c.Leader(); l == old {
			return fmt.Errorf("peer %d still leads", l)
		}
		return nil
	})
	byNew := signer(t, c)(token.Read, hour, ch.ID)
	if keyOf(t, byNew) != keyOf(t, after) {
		t.Errorf("the new leader signs with key %d, the old one signed with %d", keyOf(t, byNew), keyOf(t, after))
	}
	for name, tok := range map[string][]byte{"before the rotation": before, "by the old leader": after} {
		if err := readable(tok); err != nil {
			t.Errorf("token minted %s, after the leader changed: %v", name, err)
		}
	}
	mustMatch(t, cl, "/t/r", data)
}

// TestSDKRefreshesExpiredTokens: with tokens that live a second, the
// SDK's reads of a file opened earlier and its writes from allocations
// fetched earlier still succeed: refused tokens are fetched again.
func TestSDKRefreshesExpiredTokens(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 2, Replication: 2, TokenLifetime: time.Second})
	cl := c.Client()
	ctx := context.Background()
	a, b := randBytes(3, 3<<20), randBytes(4, 4<<10)
	mustWrite(t, cl, "/t/a", a) // fills the allocation pool
	f, err := cl.Open(ctx, "/t/a")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1300 * time.Millisecond) // past expiry and the nodes' skew
	var got bytes.Buffer
	if _, err := f.WriteTo(&got); err != nil || !bytes.Equal(got.Bytes(), a) {
		t.Fatalf("reading a file opened before its tokens expired: %v", err)
	}
	mustWrite(t, cl, "/t/b", b) // its pooled allocation's token has expired
	mustMatch(t, cl, "/t/b", b)
	if n := expiredRefusals(t, c); n == 0 {
		t.Error("no node refused an expired token: the test did not exercise the refresh")
	}
}

// expiredRefusals sums the data nodes' refusals of expired tokens.
func expiredRefusals(t *testing.T, c *testcluster.Cluster) int {
	total := 0
	for _, n := range c.Nodes {
		resp, err := c.HTTPClient(nil).Get(c.URL(n.Addr, "/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, `cairn_node_token_refusals_total{reason="expired"} `); ok {
				n, _ := strconv.Atoi(v)
				total += n
			}
		}
	}
	return total
}

// TestKeysRotateOnSchedule: with a short rotation interval the leader
// replaces its key on its own while the SDK reads and writes.
func TestKeysRotateOnSchedule(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, KeyRotation: 300 * time.Millisecond})
	signing := func() uint32 {
		tok, err := c.Keyring().Sign(token.Claims{Op: token.Read, Expiry: time.Now().Add(time.Minute), Chunks: []cairn.ChunkID{{}}})
		if err != nil {
			t.Fatal(err)
		}
		return keyOf(t, tok)
	}
	start := signing()
	cl := c.Client()
	keys := func() map[uint32]bool {
		ks, err := c.Keyring().PublicKeys()
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint32]bool{}
		for _, k := range ks {
			out[k.Id] = true
		}
		return out
	}
	first := keys()
	// A new key signs 300ms after the last became active, once the
	// nodes have had 2s (their suspect timeout) to learn it.
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		data := randBytes(uint64(100+i), 4<<10)
		p := fmt.Sprintf("/rot/%d", i)
		mustWrite(t, cl, p, data)
		mustMatch(t, cl, p, data)
	}
	now := keys()
	if len(now) < 2 || signing() == start {
		t.Errorf("after 3s of rotating every 300ms: %d keys, signing with the first one: %v", len(now), signing() == start)
	}
	for id := range first {
		if !now[id] {
			t.Errorf("key %d was removed while its tokens may live", id)
		}
	}
}

// keyOf is the ID of the key that signed tok.
func keyOf(t *testing.T, tok []byte) uint32 {
	t.Helper()
	c, _, _, err := token.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c.KeyID
}
