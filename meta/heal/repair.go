package heal

import (
	"context"
	"fmt"
	"slices"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/bwlimit"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// The repairer runs on the leader. Each round it scans the location map for
// chunks with fewer healthy replicas than their file's replication, orders
// them most-endangered first, and has new replicas pull a copy from a
// healthy one (the copy is verified and fsynced by the target) before the
// location map changes through the log. A replica on a dead node is dropped
// from the map once the chunk is whole again elsewhere.
type repairer struct{ h *Healer }

// round runs one repair round: scan (up to 100,000 chunks that need a
// copy), drop dead and surplus draining replicas of whole chunks, then copy
// the endangered chunks, RepairConcurrency at a time. A round with nothing
// to copy ends with a rebalancing round.
func (r repairer) round(ctx context.Context) {
	h := r.h
	v := h.d.State.View()
	var todo, cleanup []candidate
	err := scan(v, h.d.Nodes, h.cfg.DefaultReplication, func(c candidate) bool {
		switch {
		case c.needsCopy():
			todo = append(todo, c)
		case len(c.dead) > 0 && len(c.healthy)+len(c.suspect) >= c.want,
			len(c.draining) > 0 && len(c.healthy) >= c.want:
			cleanup = append(cleanup, c)
		}
		return len(todo) < 100000
	})
	v.Close()
	if err != nil {
		h.cfg.Logger.Error("repair scan failed", "err", err)
		return
	}
	h.stats.lastScan.Store(h.cfg.Now().UnixNano())
	h.stats.queued.Store(uint64(len(todo)))
	// Most endangered first: one healthy replica before two.
	slices.SortStableFunc(todo, func(a, b candidate) int { return len(a.healthy) - len(b.healthy) })
	for _, c := range cleanup {
		remove := c.dead
		if len(c.healthy) >= c.want {
			remove = append(remove, c.draining...)
		}
		if err := h.propose(ctx, &pb.UpdateLocations{Chunk: c.id[:], Remove: remove}); err != nil {
			h.cfg.Logger.Warn("dropping dead replicas from the location map failed; retrying next round", "chunk", c.id, "err", err)
			break
		}
	}
	var copyable []candidate
	for _, c := range todo {
		if len(c.sources()) > 0 { // else nothing to copy from: fsck reports it as missing
			copyable = append(copyable, c)
		}
	}
	n, firstErr := inParallel(ctx, h, copyable, func(c candidate) error {
		h.stats.inFlight.Add(1)
		defer h.stats.inFlight.Add(^uint64(0))
		if err := r.repair(ctx, c); err != nil {
			h.stats.failed.Add(1)
			return err
		}
		h.stats.repaired.Add(1)
		if q := h.stats.queued.Load(); q > 0 {
			h.stats.queued.Add(^uint64(0))
		}
		return nil
	})
	if n > 0 {
		h.cfg.Logger.Warn("some chunks could not be repaired this round; retrying next round", "failed", n, "first_error", firstErr)
	}
	if len(todo) == 0 && ctx.Err() == nil {
		rebalancer{h}.run(ctx)
	}
}

// repair copies chunk c onto enough new nodes to restore its replication.
func (r repairer) repair(ctx context.Context, c candidate) error {
	need := c.want - len(c.healthy) - len(c.suspect)
	exclude := map[cairn.NodeID]bool{}
	for _, n := range c.rec.Nodes {
		exclude[cairn.NodeID(n)] = true
	}
	var targets []*pb.Replica
	var err error
	h := r.h
	if bad, ok := h.corrupt.avoid(c.id); ok {
		exclude[cairn.NodeID(bad)] = true
		targets, err = h.d.Nodes.Pick(c.id, need, exclude)
		delete(exclude, cairn.NodeID(bad))
	}
	if len(targets) < need {
		// No other node: a fresh, verified copy on the same node beats none.
		targets, err = h.d.Nodes.Pick(c.id, need, exclude)
	}
	if err != nil && len(targets) == 0 {
		return err
	}
	if err := bwlimit.Wait(ctx, h.limiter, c.rec.Length*int64(len(targets))); err != nil {
		return err
	}
	h.copying.Store(c.id, struct{}{})
	defer h.copying.Delete(c.id)
	var added []string
	sources := c.sources()
	for i, t := range targets {
		src := sources[i%len(sources)]
		srcAddr, _, _ := h.d.Nodes.Addr(cairn.NodeID(src))
		if err := h.d.Transfer.Copy(ctx, c.id, c.rec.Length, t.Addr, srcAddr); err != nil {
			h.cfg.Logger.Warn("repair copy failed", "chunk", c.id, "target", t.Node, "source", src, "err", err)
			continue
		}
		added = append(added, t.Node)
		h.stats.bytesMoved.Add(uint64(c.rec.Length))
	}
	if len(added) == 0 {
		return cairn.E("repair", cairn.Unavailable, fmt.Errorf("no target could copy chunk %s", c.id))
	}
	remove := c.dead
	if len(c.healthy)+len(added) >= c.want {
		remove = append(remove, c.draining...)
	}
	if len(c.healthy)+len(c.suspect)+len(added) < c.want {
		remove = nil // keep the old replicas listed until the chunk is whole
	}
	return h.propose(ctx, &pb.UpdateLocations{Chunk: c.id[:], Add: added, Remove: remove})
}
