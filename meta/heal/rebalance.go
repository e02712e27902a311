package heal

import (
	"context"
	"slices"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/bwlimit"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// rebalanceBatch bounds the replicas moved per round.
const rebalanceBatch = 256

// move is one replica to put where the ring places it.
type move struct {
	c      candidate
	to     *pb.Replica
	remove string // the replica that is no longer wanted ("" if none)
}

// rebalancer moves replicas to where the ring places them now (after nodes
// joined, their weights changed, or a node is draining). A replica is
// always added (copied, verified, fsynced) before the one it replaces is
// dropped from the map, so no chunk is ever below its replication during a
// move; the dropped copy is deleted by its node's reconciliation. It runs
// only when every node is healthy and nothing needs repair.
type rebalancer struct{ h *Healer }

// run runs one rebalancing round.
func (r rebalancer) run(ctx context.Context) {
	h := r.h
	if !h.d.Nodes.Stable() {
		return
	}
	v := h.d.State.View()
	moves, total, err := r.planMoves(v)
	v.Close()
	if err != nil {
		h.cfg.Logger.Error("rebalance scan failed", "err", err)
		return
	}
	h.stats.rebalanceQueued.Store(total)
	n, firstErr := inParallel(ctx, h, moves, func(m move) error {
		if err := r.applyMove(ctx, m); err != nil {
			return err
		}
		h.stats.rebalanceMoved.Add(1)
		return nil
	})
	if n > 0 {
		h.cfg.Logger.Warn("some rebalance moves failed; retrying next round", "failed", n, "first_error", firstErr)
	}
}

// planMoves compares each chunk's replicas with the ring's placement.
func (r rebalancer) planMoves(v *state.View) ([]move, uint64, error) {
	h := r.h
	var moves []move
	total := uint64(0)
	err := eachChunk(v, h.cfg.DefaultReplication, func(id cairn.ChunkID, rec *pb.ChunkRecord, want int) bool {
		desired, err := h.d.Nodes.Pick(id, want, nil)
		if err != nil {
			return true
		}
		var to *pb.Replica
		for _, d := range desired {
			if !slices.Contains(rec.Nodes, d.Node) {
				to = d
				break
			}
		}
		if to == nil {
			return true
		}
		total++
		if len(moves) >= rebalanceBatch {
			return true
		}
		m := move{c: candidate{id: id, rec: rec, want: want}, to: to}
		for _, n := range rec.Nodes {
			if !slices.ContainsFunc(desired, func(d *pb.Replica) bool { return d.Node == n }) {
				m.remove = n
				break
			}
		}
		for _, n := range rec.Nodes {
			if _, st, known := h.d.Nodes.Addr(cairn.NodeID(n)); known && (st == cairn.NodeAlive || st == cairn.NodeDraining) {
				m.c.healthy = append(m.c.healthy, n)
			}
		}
		if len(m.c.healthy) > 0 {
			moves = append(moves, m)
		}
		return true
	})
	return moves, total, err
}

// applyMove copies one replica to its new node, then records the move.
func (r rebalancer) applyMove(ctx context.Context, m move) error {
	h := r.h
	if err := bwlimit.Wait(ctx, h.limiter, m.c.rec.Length); err != nil {
		return err
	}
	h.copying.Store(m.c.id, struct{}{})
	defer h.copying.Delete(m.c.id)
	srcAddr, _, _ := h.d.Nodes.Addr(cairn.NodeID(m.c.healthy[0]))
	if err := h.d.Transfer.Copy(ctx, m.c.id, m.c.rec.Length, m.to.Addr, srcAddr); err != nil {
		return err
	}
	h.stats.bytesMoved.Add(uint64(m.c.rec.Length))
	u := &pb.UpdateLocations{Chunk: m.c.id[:], Add: []string{m.to.Node}}
	if m.remove != "" && len(m.c.rec.Nodes)+1 > m.c.want {
		u.Remove = []string{m.remove}
	}
	return h.propose(ctx, u)
}
