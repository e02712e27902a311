package grpcapi

import (
	"context"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/token"
)

// tokenRun is the most chunks one token covers: 4 KiB of chunk IDs, so
// that a token fits the data port's header limit (64 KiB) with room to
// spare. A file or allocation of more chunks gets a token per run.
const tokenRun = 256

// mintRuns mints op tokens for ids, one per run of tokenRun, for the
// caller of ctx. It returns the tokens and, for each ID, the index of the
// token covering it; nothing without a keyring (--insecure). Errors are
// the keyring's: Unavailable before the first key.
func (c *core) mintRuns(ctx context.Context, op token.Op, ids []cairn.ChunkID) ([][]byte, []uint32, error) {
	if c.keys == nil || len(ids) == 0 {
		return nil, nil, nil
	}
	user := callerName(ctx)
	var toks [][]byte
	idx := make([]uint32, len(ids))
	for lo := 0; lo < len(ids); lo += tokenRun {
		hi := min(lo+tokenRun, len(ids))
		tok, err := c.keys.Mint(op, user, ids[lo:hi])
		if err != nil {
			return nil, nil, err
		}
		for i := lo; i < hi; i++ {
			idx[i] = uint32(len(toks))
		}
		toks = append(toks, tok)
	}
	return toks, idx, nil
}

// mintLookup adds read tokens for the chunks of a Lookup answer.
func (c *core) mintLookup(ctx context.Context, resp *pb.LookupResponse) (err error) {
	resp.Tokens, err = mintFor(ctx, c, token.Read, resp.Chunks,
		func(cl *pb.ChunkLocation) []byte { return cl.Chunk.Id }, func(cl *pb.ChunkLocation, i uint32) { cl.Token = i })
	return err
}

// mintAllocations adds write tokens for the chunks of an allocation.
func (c *core) mintAllocations(ctx context.Context, resp *pb.AllocateResponse) (err error) {
	resp.Tokens, err = mintFor(ctx, c, token.Write, resp.Chunks,
		func(a *pb.Allocation) []byte { return a.Id }, func(a *pb.Allocation, i uint32) { a.Token = i })
	return err
}

// mintFor mints op tokens for items, whose chunk IDs id returns, and
// gives each item the index of its token with set.
func mintFor[T any](ctx context.Context, c *core, op token.Op, items []T, id func(T) []byte, set func(T, uint32)) ([][]byte, error) {
	ids := make([]cairn.ChunkID, len(items))
	for i, it := range items {
		ids[i], _ = cairn.ChunkIDFromBytes(id(it))
	}
	toks, idx, err := c.mintRuns(ctx, op, ids)
	if err != nil || idx == nil {
		return nil, err
	}
	for i, it := range items {
		set(it, idx[i])
	}
	return toks, nil
}

// tokenKeys returns the public keys for a data node's heartbeat or
// registration answer (none without a keyring).
func (c *core) tokenKeys() ([]*pb.TokenKey, error) {
	if c.keys == nil {
		return nil, nil
	}
	return c.keys.PublicKeys()
}

// callerName is the name in the caller's verified certificate, "" if
// there is none.
func callerName(ctx context.Context) string {
	id, _ := callerIdentity(ctx)
	return id.Name
}
