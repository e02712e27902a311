package meta

import (
	"fmt"
	"time"

	"context"
	"errors"
	"slices"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// Fsck streams every chunk with fewer healthy replicas than its file's
// replication, with the file it belongs to. A chunk with no healthy replica
// is missing. Replicas on suspect nodes do not count as healthy.
func (v *Service) Fsck(req *pb.FsckRequest, stream grpc.ServerStreamingServer[pb.FsckResponse]) error {
	s := v.s
	if err := s.requireLeader(); err != nil {
		return rpcerr.ToStatus(err)
	}
	snap := s.fsm.db.NewSnapshot()
	defer snap.Close()
	var sendErr error
	err := s.repair.scan(snap, func(c candidate) bool {
		if len(c.healthy) >= c.want {
			return true
		}
		resp := &pb.FsckResponse{Chunk: c.id[:], Length: c.rec.Length, Want: uint32(c.want), Healthy: uint32(len(c.healthy))}
		resp.Path = pathOf(snap, cairn.InodeID(c.rec.Inode))
		_ = fileChunks(snap, cairn.InodeID(c.rec.Inode), 0, -1, func(ref *pb.ChunkRef) error {
			if string(ref.Id) == string(c.id[:]) {
				resp.Offset = ref.Offset
			}
			return nil
		})
		for _, n := range c.rec.Nodes {
			addr, st, known := s.reg.addr(cairn.NodeID(n))
			state := st.String()
			if !known {
				state = "unknown"
			}
			resp.Replicas = append(resp.Replicas, &pb.Replica{Node: n, Addr: addr})
			resp.States = append(resp.States, state)
		}
		sendErr = stream.Send(resp)
		return sendErr == nil
	})
	if err == nil {
		err = sendErr
	}
	return rpcerr.ToStatus(err)
}

// ReportCorrupt drops a node's replicas of chunks that it found corrupt (it
// has already deleted them); the repairer restores the replication.
func (v *Service) ReportCorrupt(ctx context.Context, req *pb.ReportCorruptRequest) (*pb.Empty, error) {
	if err := v.s.requireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	for _, raw := range req.Chunks {
		id, err := cairn.ChunkIDFromBytes(raw)
		if err != nil {
			return nil, rpcerr.ToStatus(err)
		}
		rec := &pb.ChunkRecord{}
		if ok, err := getProto(v.s.fsm.db, locKey(id), rec); err != nil || !ok || !slices.Contains(rec.Nodes, req.Node) {
			continue // no longer referenced here: the node may drop it
		}
		if len(rec.Nodes) == 1 {
			v.s.cfg.Logger.Error("the only replica of a chunk is corrupt; keeping it (its other sub-blocks are still readable)", "node", req.Node, "chunk", id)
			return nil, rpcerr.ToStatus(cairn.E("report-corrupt", cairn.PathArg(id.String()), cairn.Conflict, errors.New("this is the only replica; keep it")))
		}
		v.s.cfg.Logger.Warn("data node reported a corrupt replica; dropping it and repairing", "node", req.Node, "chunk", id)
		v.s.repair.noteCorrupt(id, req.Node)
		if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_UpdateLocations{UpdateLocations: &pb.UpdateLocations{Chunk: raw, Remove: []string{req.Node}}}}); err != nil {
			return nil, err
		}
	}
	v.s.repair.kick()
	return &pb.Empty{}, nil
}

// Reconcile answers which of a node's chunks it may delete. A chunk is
// kept if the location map lists it on this node, if an open upload session
// holds it, if a repair is copying it, or if it was allocated less than
// MaxWriteAge ago (its write may still commit). Commits of older chunks are
// refused, so a chunk this answers "delete" for can never become
// referenced later. The node deletes only what two answers, GCGrace apart,
// agree on.
func (v *Service) Reconcile(ctx context.Context, req *pb.ReconcileRequest) (*pb.ReconcileResponse, error) {
	s := v.s
	if err := s.requireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if err := s.check.wait(ctx); err != nil {
		return nil, rpcerr.ToStatus(cairn.E("reconcile", cairn.NotLeader, err))
	}
	snap := s.fsm.db.NewSnapshot()
	defer snap.Close()
	inSession, err := sessionChunks(snap)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	cutoff := time.Now().Add(-s.cfg.MaxWriteAge)
	resp := &pb.ReconcileResponse{}
	for _, raw := range req.Chunks {
		id, err := cairn.ChunkIDFromBytes(raw)
		if err != nil {
			return nil, rpcerr.ToStatus(err)
		}
		if _, busy := s.repair.copying.Load(id); busy || inSession[id] {
			continue
		}
		rec := &pb.ChunkRecord{}
		ok, err := getProto(snap, locKey(id), rec)
		if err != nil {
			return nil, rpcerr.ToStatus(err)
		}
		switch {
		case ok && slices.Contains(rec.Nodes, req.Node):
			continue // a live replica
		case ok:
			// Committed, but not here: a surplus copy.
		default:
			released, err := getProto(snap, garbageKey(id), &pb.GarbageRecord{})
			if err != nil {
				return nil, rpcerr.ToStatus(err)
			}
			if !released && id.Time().After(cutoff) {
				continue // young: its write may still commit
			}
		}
		resp.Delete = append(resp.Delete, raw)
	}
	return resp, nil
}

// sessionChunks returns the chunks held by open upload sessions.
func sessionChunks(r reader) (map[cairn.ChunkID]bool, error) {
	out := map[cairn.ChunkID]bool{}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{tagPart}, UpperBound: []byte{tagPart + 1}})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		sc := &pb.StoredChunk{}
		if err := proto.Unmarshal(it.Value(), sc); err != nil {
			return nil, cairn.E("reconcile", cairn.Internal, err)
		}
		if id, err := cairn.ChunkIDFromBytes(sc.GetChunk().GetId()); err == nil {
			out[id] = true
		}
	}
	return out, it.Error()
}

// Drain takes a data node out of placement (or puts it back with undo);
// the repairer then moves its chunks to other nodes.
func (v *Service) Drain(ctx context.Context, req *pb.DrainRequest) (*pb.Empty, error) {
	if req.Node == "" {
		return nil, rpcerr.ToStatus(cairn.E("drain", cairn.Invalid, errors.New("node id is empty")))
	}
	if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_Drain{Drain: req}}); err != nil {
		return nil, err
	}
	v.s.repair.kick()
	return &pb.Empty{}, nil
}

// checkAge refuses chunks allocated longer than MaxWriteAge ago: the
// collector may already consider them orphans.
func (s *Server) checkAge(chunks []*pb.StoredChunk) error {
	cutoff := time.Now().Add(-s.cfg.MaxWriteAge)
	for _, sc := range chunks {
		id, err := cairn.ChunkIDFromBytes(sc.GetChunk().GetId())
		if err != nil {
			return err
		}
		if id.Time().Before(cutoff) {
			return cairn.E("commit", cairn.PathArg(id.String()), cairn.Invalid,
				fmt.Errorf("chunk was allocated at %s, more than %v ago; upload it again", id.Time().UTC().Format(time.RFC3339), s.cfg.MaxWriteAge))
		}
	}
	return nil
}
