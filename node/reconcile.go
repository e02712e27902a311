package node

import (
	"context"
	"errors"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/volume"
)

// reconcileLoop compares the node's chunks with the metadata service's
// location map and deletes what no file needs here any more: surplus
// replicas left by repair or drain, chunks of files deleted while the node
// was down, orphans of failed writes. A chunk is deleted only if two
// answers at least ReconcileGrace apart both say so.
func (n *Node) reconcileLoop() {
	defer n.wg.Done()
	pending := map[cairn.ChunkID]time.Time{} // first "delete" answer
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if !n.registered.Load() {
			continue
		}
		if err := n.reconcile(pending); err != nil && n.ctx.Err() == nil {
			n.cfg.Logger.Warn("reconciling chunks with the metadata service failed; will retry", "err", err)
		}
	}
}

func (n *Node) reconcile(pending map[cairn.ChunkID]time.Time) error {
	var all []cairn.ChunkID
	n.store.Walk(func(ci volume.ChunkInfo) bool { all = append(all, ci.ID); return true })
	answer := map[cairn.ChunkID]bool{}
	for start := 0; start < len(all); start += 10000 {
		batch := all[start:min(start+10000, len(all))]
		req := &pb.ReconcileRequest{Node: string(n.id), Chunks: make([][]byte, len(batch))}
		for i := range batch {
			req.Chunks[i] = batch[i][:]
		}
		ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
		var resp *pb.ReconcileResponse
		err := n.leader(ctx, func(ctx context.Context, c pb.NodesClient) (err error) {
			resp, err = c.Reconcile(ctx, req)
			return err
		})
		cancel()
		if err != nil {
			return err
		}
		for _, raw := range resp.Delete {
			if id, err := cairn.ChunkIDFromBytes(raw); err == nil {
				answer[id] = true
			}
		}
	}
	now := time.Now()
	deleted := 0
	for id := range pending {
		if !answer[id] {
			delete(pending, id) // referenced again, or gone
		}
	}
	for id := range answer {
		first, seen := pending[id]
		if !seen {
			pending[id] = now
			continue
		}
		if now.Sub(first) < n.cfg.ReconcileGrace {
			continue
		}
		if err := n.store.Delete(n.ctx, id); err != nil && !errors.Is(err, cairn.NotFound) {
			return err
		}
		delete(pending, id)
		deleted++
	}
	if deleted > 0 {
		n.cfg.Logger.Info("deleted chunks no file needs on this node", "chunks", deleted)
	}
	return nil
}
