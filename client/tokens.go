package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Capability tokens: on a secured cluster a data node serves a user's
// chunk requests only with a token the metadata leader minted, handed out
// with the chunk locations (Lookup for reads, AllocateChunks for writes).
// The SDK sends it opaque, in the Cairn-Token header. When a node refuses
// a token (it expired, or the node does not know its key yet) the SDK
// asks for a fresh one: it looks the file up again or allocates again.

// setToken puts a capability token on a data-node request (none: nothing).
func setToken(req *http.Request, tok []byte) {
	if len(tok) > 0 {
		req.Header.Set(cairnhttp.HeaderToken, base64.RawURLEncoding.EncodeToString(tok))
	}
}

// readTokens are the read tokens of one lookup of a byte range of a file,
// by chunk. A nil *readTokens has none (a cluster without TLS).
type readTokens struct {
	c      *Client
	path   string
	off, n int64 // the range looked up

	mu      sync.Mutex // held across a refresh: one lookup at a time
	byChunk map[cairn.ChunkID][]byte
}

// newReadTokens holds the tokens of resp, the lookup of [off, off+n) of
// path; nil if it has none.
func (c *Client) newReadTokens(path string, off, n int64, resp *pb.LookupResponse) *readTokens {
	if len(resp.Tokens) == 0 {
		return nil
	}
	t := &readTokens{c: c, path: path, off: off, n: n}
	t.set(resp)
	return t
}

// set replaces the tokens with those of resp. The caller holds mu or
// owns t alone.
func (t *readTokens) set(resp *pb.LookupResponse) {
	t.byChunk = make(map[cairn.ChunkID][]byte, len(resp.Chunks))
	for _, cl := range resp.Chunks {
		if int(cl.Token) < len(resp.Tokens) {
			id, _ := cairn.ChunkIDFromBytes(cl.Chunk.Id)
			t.byChunk[id] = resp.Tokens[cl.Token]
		}
	}
}

// get returns the token for chunk id (nil: none).
func (t *readTokens) get(id cairn.ChunkID) []byte {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byChunk[id]
}

// refresh fetches a fresh token for chunk id after a node refused used,
// by looking the range up again, unless another reader has already done
// so. It fails when the lookup fails or the file no longer holds the chunk
// (it was overwritten since it was opened).
func (t *readTokens) refresh(ctx context.Context, id cairn.ChunkID, used []byte) error {
	if t == nil {
		return cairn.E("read", cairn.Permission, errors.New("the data node wants a capability token, but the metadata service handed out none (is the client --insecure and the cluster not?)"))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur := t.byChunk[id]; cur != nil && !bytes.Equal(cur, used) {
		return nil // another reader refreshed it
	}
	resp, err := t.c.lookup(ctx, t.path, t.off, t.n)
	if err != nil {
		return err
	}
	t.set(resp)
	if t.byChunk[id] == nil {
		return cairn.E("read", cairn.PathArg(t.path), cairn.Permission, fmt.Errorf("the token for chunk %s was refused and the file no longer holds the chunk (it changed since it was opened); open it again", id))
	}
	return nil
}
