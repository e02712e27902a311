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
func (l *metaLink) reconcileLoop() {
	pending := map[cairn.ChunkID]time.Time{} // first "delete" answer
	t := time.NewTicker(l.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		if !l.registered.Load() {
			continue
		}
		if err := l.reconcile(pending); err != nil && l.ctx.Err() == nil {
			l.cfg.Logger.Warn("reconciling chunks with the metadata service failed; will retry", "err", err)
		}
	}
}

func (l *metaLink) reconcile(pending map[cairn.ChunkID]time.Time) error {
	var all []cairn.ChunkID
	l.store.Walk(func(ci volume.ChunkInfo) bool { all = append(all, ci.ID); return true })
	answer := map[cairn.ChunkID]bool{}
	for start := 0; start < len(all); start += 10000 {
		batch := all[start:min(start+10000, len(all))]
		req := &pb.ReconcileRequest{Node: string(l.id), Chunks: make([][]byte, len(batch))}
		for i := range batch {
			req.Chunks[i] = batch[i][:]
		}
		ctx, cancel := context.WithTimeout(l.ctx, 30*time.Second)
		var resp *pb.ReconcileResponse
		err := l.leader(ctx, func(ctx context.Context, c pb.NodesClient) (err error) {
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
		if now.Sub(first) < l.cfg.ReconcileGrace {
			continue
		}
		if err := l.store.Delete(l.ctx, id); err != nil && !errors.Is(err, cairn.NotFound) {
			return err
		}
		delete(pending, id)
		deleted++
	}
	if deleted > 0 {
		l.cfg.Logger.Info("deleted chunks no file needs on this node", "chunks", deleted)
	}
	return nil
}
