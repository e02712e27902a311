package heal

import (
	"context"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// collector deletes released chunks from data nodes and expires abandoned
// upload sessions.
type collector struct{ h *Healer }

// round deletes released chunks (of removed or overwritten files and
// aborted uploads) from the data nodes that hold them, once they have been
// released for GCGrace, then forgets them through Raft. A chunk whose node
// is down stays queued until the node is back or is forgotten. Only chunks
// in the garbage table are ever deleted, and a chunk enters that table only
// in the same Raft entry that stops every file from referencing it, so a
// leader change in the middle of a round at worst repeats a delete.
func (r collector) round(ctx context.Context) {
	h := r.h
	v := h.d.State.View()
	type item struct {
		id  cairn.ChunkID
		rec *pb.GarbageRecord
	}
	var items []item
	total := uint64(0)
	now := h.cfg.Now()
	cutoff := now.Add(-h.cfg.GCGrace).UnixNano()
	err := v.EachGarbage(func(id cairn.ChunkID, rec *pb.GarbageRecord) bool {
		total++
		if rec == nil || rec.SinceNs > cutoff || len(items) >= 10000 {
			return true
		}
		items = append(items, item{id, rec})
		return true
	})
	v.Close()
	if err != nil {
		h.cfg.Logger.Error("garbage scan failed", "err", err)
		return
	}
	h.stats.garbageQueued.Store(total)
	var done [][]byte
	for _, g := range items {
		if ctx.Err() != nil || !h.d.Leader.IsLeader() {
			break
		}
		ok := true
		for _, n := range g.rec.Nodes {
			addr, st, known := h.d.Nodes.Addr(cairn.NodeID(n))
			if !known {
				continue // removed from the cluster
			}
			if st == cairn.NodeLeaving {
				ok = false // restarting: delete when it is back
				continue
			}
			if st == cairn.NodeDead {
				// A node that comes back reconciles and drops the chunk
				// itself: it asks while this record exists, or, once the
				// record is older than MaxWriteAge, finds the chunk too old
				// to be in flight.
				if h.cfg.Now().Sub(time.Unix(0, g.rec.SinceNs)) < h.cfg.MaxWriteAge {
					ok = false
				}
				continue
			}
			if h.d.Transfer.Delete(ctx, addr, g.id) != nil {
				ok = false
			}
		}
		if ok {
			id := g.id
			done = append(done, id[:])
		}
		if len(done) >= 500 {
			r.forget(ctx, done)
			done = nil
		}
	}
	r.forget(ctx, done)
}

// forget records that every holder deleted the chunks ids.
func (r collector) forget(ctx context.Context, ids [][]byte) {
	h := r.h
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := h.d.Proposer.Propose(ctx, &pb.Command{Op: &pb.Command_GarbageDone{GarbageDone: &pb.GarbageDone{Chunks: ids}}}); err != nil {
		h.cfg.Logger.Warn("recording collected garbage failed; it will be deleted again", "err", err)
		return
	}
	h.stats.garbageDeleted.Add(uint64(len(ids)))
}

// expireUploads aborts upload sessions open longer than UploadExpiry (their
// chunks become garbage) and forgets completion markers as old.
func (r collector) expireUploads(ctx context.Context) {
	h := r.h
	v := h.d.State.View()
	list, err := v.AllUploads()
	v.Close()
	if err != nil {
		return
	}
	cutoff := h.cfg.Now().Add(-h.cfg.UploadExpiry).UnixNano()
	for _, s := range list {
		if s.CreatedNs > cutoff || ctx.Err() != nil || !h.d.Leader.IsLeader() {
			continue
		}
		if s.CompletedInode == 0 {
			h.cfg.Logger.Info("expiring an abandoned upload session", "id", s.Id, "path", s.Path)
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := h.d.Proposer.Propose(pctx, &pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: &pb.AbortUploadRequest{Id: s.Id}}})
		cancel()
		if err != nil {
			h.cfg.Logger.Warn("expiring an upload session failed; retrying later", "id", s.Id, "err", err)
			return
		}
	}
}
