package meta

import (
	"context"
	"net/http"
	"time"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// gcRound deletes released chunks (of removed or overwritten files and
// aborted uploads) from the data nodes that hold them, once they have been
// released for GCGrace, then forgets them through Raft. A chunk whose node
// is down stays queued until the node is back or is forgotten. Only chunks
// in the garbage table are ever deleted, and a chunk enters that table only
// in the same Raft entry that stops every file from referencing it, so a
// leader change in the middle of a round at worst repeats a delete.
func (r *repairer) gcRound(ctx context.Context) {
	snap := r.s.fsm.db.NewSnapshot()
	type item struct {
		id  cairn.ChunkID
		rec *pb.GarbageRecord
	}
	var items []item
	total := uint64(0)
	cutoff := time.Now().Add(-r.s.cfg.GCGrace).UnixNano()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{tagGarbage}, UpperBound: []byte{tagGarbage + 1}})
	if err == nil {
		for it.First(); it.Valid(); it.Next() {
			total++
			rec := &pb.GarbageRecord{}
			if proto.Unmarshal(it.Value(), rec) != nil || rec.SinceNs > cutoff || len(items) >= 10000 {
				continue
			}
			id, _ := cairn.ChunkIDFromBytes(it.Key()[1:])
			items = append(items, item{id, rec})
		}
		err = it.Close()
	}
	snap.Close()
	if err != nil {
		r.s.cfg.Logger.Error("garbage scan failed", "err", err)
		return
	}
	r.garbageQueued.Store(total)
	var done [][]byte
	for _, g := range items {
		if ctx.Err() != nil || !r.s.IsLeader() {
			break
		}
		ok := true
		for _, n := range g.rec.Nodes {
			addr, st, known := r.s.reg.addr(cairn.NodeID(n))
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
				if time.Since(time.Unix(0, g.rec.SinceNs)) < r.s.cfg.MaxWriteAge {
					ok = false
				}
				continue
			}
			if r.deleteChunk(ctx, addr, g.id) != nil {
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

func (r *repairer) forget(ctx context.Context, ids [][]byte) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := r.s.propose(ctx, &pb.Command{Op: &pb.Command_GarbageDone{GarbageDone: &pb.GarbageDone{Chunks: ids}}}); err != nil {
		r.s.cfg.Logger.Warn("recording collected garbage failed; it will be deleted again", "err", err)
		return
	}
	r.garbageDeleted.Add(uint64(len(ids)))
}

func (r *repairer) deleteChunk(ctx context.Context, addr string, id cairn.ChunkID) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+addr+"/v1/chunks/"+id.String(), nil)
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return cairn.E("gc.delete", cairn.Unavailable, nil)
	}
	return nil
}

// expireUploads aborts upload sessions open longer than UploadExpiry (their
// chunks become garbage) and forgets completion markers as old.
func (r *repairer) expireUploads(ctx context.Context) {
	list, err := listAllUploads(r.s.fsm.db)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-r.s.cfg.UploadExpiry).UnixNano()
	for _, s := range list {
		if s.CreatedNs > cutoff || ctx.Err() != nil || !r.s.IsLeader() {
			continue
		}
		if s.CompletedInode == 0 {
			r.s.cfg.Logger.Info("expiring an abandoned upload session", "id", s.Id, "path", s.Path)
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := r.s.propose(pctx, &pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: &pb.AbortUploadRequest{Id: s.Id}}})
		cancel()
		if err != nil {
			r.s.cfg.Logger.Warn("expiring an upload session failed; retrying later", "id", s.Id, "err", err)
			return
		}
	}
}

// maintain runs repair and garbage collection rounds while this peer leads.
func (s *Server) maintain() {
	defer s.wg.Done()
	ctx := s.ctx // ends at Close
	repairTick := time.NewTicker(s.cfg.RepairInterval)
	defer repairTick.Stop()
	gcTick := time.NewTicker(s.cfg.GCInterval)
	defer gcTick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.repair.kickc:
			if s.IsLeader() {
				s.repair.round(ctx)
			}
		case <-repairTick.C:
			// A new leader's grace period (registry.resetClocks) keeps it
			// from repairing nodes it has not yet heard from.
			if s.IsLeader() {
				s.repair.round(ctx)
			}
		case <-gcTick.C:
			if s.IsLeader() {
				s.repair.expireUploads(ctx)
				s.repair.gcRound(ctx)
			}
		}
	}
}
