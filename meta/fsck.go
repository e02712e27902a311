package meta

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/metarpc"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Fsck streams every chunk with fewer healthy replicas than its file's
// replication, with the file it belongs to. A chunk with no healthy replica
// is missing. Replicas on suspect nodes do not count as healthy.
func (v *Service) Fsck(req *pb.FsckRequest, stream grpc.ServerStreamingServer[pb.FsckResponse]) error {
	s := v.s
	if err := s.requireLeader(); err != nil {
		return metarpc.ToStatus(err)
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
	return metarpc.ToStatus(err)
}

// ReportCorrupt drops a node's replicas of chunks that it found corrupt (it
// has already deleted them); the repairer restores the replication.
func (v *Service) ReportCorrupt(ctx context.Context, req *pb.ReportCorruptRequest) (*pb.Empty, error) {
	if err := v.s.requireLeader(); err != nil {
		return nil, metarpc.ToStatus(err)
	}
	for _, raw := range req.Chunks {
		id, err := cairn.ChunkIDFromBytes(raw)
		if err != nil {
			return nil, metarpc.ToStatus(err)
		}
		rec := &pb.ChunkRecord{}
		if ok, err := getProto(v.s.fsm.db, locKey(id), rec); err != nil || !ok || !slices.Contains(rec.Nodes, req.Node) {
			continue // no longer referenced here: the node may drop it
		}
		if len(rec.Nodes) == 1 {
			v.s.cfg.Logger.Error("the only replica of a chunk is corrupt; keeping it (its other sub-blocks are still readable)", "node", req.Node, "chunk", id)
			return nil, metarpc.ToStatus(cairn.E("report-corrupt", cairn.PathArg(id.String()), cairn.Conflict, errors.New("this is the only replica; keep it")))
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
