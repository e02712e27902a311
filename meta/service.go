package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// Service is the gRPC front end of a metadata peer. Every handler converts
// its error with rpcerr.ToStatus, the one mapping from kinds to codes.
type Service struct {
	pb.UnimplementedMetaServer
	s *Server
}

// NewService returns the gRPC front end for s.
func NewService(s *Server) *Service { return &Service{s: s} }

// Register adds the service to a gRPC server.
func (v *Service) Register(g *grpc.Server) { pb.RegisterMetaServer(g, v) }

func (s *Server) notLeader() error {
	addr, id := s.raft.LeaderWithID()
	hint := &rpcerr.LeaderHint{ID: string(id)}
	if id != "" {
		info := &pb.PeerInfo{}
		if ok, _ := getProto(s.fsm.db, peerKey(string(id)), info); ok {
			hint.Addr = info.ApiAddr
		}
	} else if addr == "" {
		hint.ID = ""
	}
	return cairn.E("meta", cairn.NotLeader, hint)
}

// requireLeader is the gate for writes that bypass Raft (allocation,
// heartbeats): they need the current leader.
func (s *Server) requireLeader() error {
	if !s.IsLeader() {
		return s.notLeader()
	}
	return nil
}

// readable makes a read linearizable: on the leader it confirms leadership
// with a quorum; a stale read may be served by any peer from its own state.
func (s *Server) readable(ctx context.Context, ro *pb.ReadOptions) error {
	if ro.GetStale() {
		return nil
	}
	if !s.IsLeader() {
		return s.notLeader()
	}
	if err := s.check.wait(ctx); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return s.notLeader()
		}
		return rpcerr.Retryable(cairn.E("meta.read", cairn.Unavailable, err))
	}
	return nil
}

func (v *Service) write(ctx context.Context, cmd *pb.Command) (proto.Message, error) {
	resp, err := v.s.propose(ctx, cmd)
	return resp, rpcerr.ToStatus(err)
}

func statResp(m proto.Message, err error) (*pb.StatResponse, error) {
	if err != nil {
		return nil, err
	}
	return m.(*pb.StatResponse), nil
}

func (v *Service) Mkdir(ctx context.Context, req *pb.MkdirRequest) (*pb.StatResponse, error) {
	return statResp(v.write(ctx, &pb.Command{Op: &pb.Command_Mkdir{Mkdir: req}}))
}

func (v *Service) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.StatResponse, error) {
	if err := checkXattrs(req.Xattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if err := v.s.checkAge(req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if req.Replication == 0 {
		req.Replication = uint32(v.s.cfg.DefaultReplication)
	}
	return statResp(v.write(ctx, &pb.Command{Op: &pb.Command_Commit{Commit: req}}))
}

func (v *Service) SetAttr(ctx context.Context, req *pb.SetAttrRequest) (*pb.StatResponse, error) {
	if err := checkXattrs(req.SetXattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return statResp(v.write(ctx, &pb.Command{Op: &pb.Command_SetAttr{SetAttr: req}}))
}

// checkXattrs bounds user attributes: names as path names, values ≤ 64 KiB.
func checkXattrs(m map[string]string) error {
	total := 0
	for k, val := range m {
		if k == "" || len(k) > cairn.MaxNameLen {
			return cairn.E("setattr", cairn.Invalid, fmt.Errorf("attribute name %q must be 1..%d bytes", k, cairn.MaxNameLen))
		}
		total += len(k) + len(val)
	}
	if total > 64<<10 {
		return cairn.E("setattr", cairn.Invalid, fmt.Errorf("user attributes total %d bytes; the limit is 64 KiB", total))
	}
	return nil
}

func (v *Service) Rename(ctx context.Context, req *pb.RenameRequest) (*pb.Empty, error) {
	_, err := v.write(ctx, &pb.Command{Op: &pb.Command_Rename{Rename: req}})
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

func (v *Service) Remove(ctx context.Context, req *pb.RemoveRequest) (*pb.RemoveResponse, error) {
	resp, err := v.write(ctx, &pb.Command{Op: &pb.Command_Remove{Remove: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.RemoveResponse), nil
}

func (v *Service) Stat(ctx context.Context, req *pb.StatRequest) (*pb.StatResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = v.s.readable(ctx, req.Read)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	a, err := resolve(v.s.fsm.db, path)
	if err != nil {
		return nil, rpcerr.ToStatus(cairn.E("stat", cairn.PathArg(path), err))
	}
	return &pb.StatResponse{Attr: a}, nil
}

// List streams entries from one consistent Pebble snapshot, page by page.
func (v *Service) List(req *pb.ListRequest, stream grpc.ServerStreamingServer[pb.ListResponse]) error {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = v.s.readable(stream.Context(), req.Read)
	}
	if err != nil {
		return rpcerr.ToStatus(err)
	}
	snap := v.s.fsm.db.NewSnapshot()
	defer snap.Close()
	dir, err := resolve(snap, path)
	if err != nil {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), err))
	}
	if !dir.Dir {
		return rpcerr.ToStatus(cairn.E("list", cairn.PathArg(path), cairn.NotDir, errors.New("is a file; stat it instead")))
	}
	pageSize := int(req.PageSize)
	if pageSize <= 0 || pageSize > 10000 {
		pageSize = 1000
	}
	page := make([]*pb.Attr, 0, pageSize)
	sent := uint32(0)
	err = listDir(snap, cairn.InodeID(dir.Inode), req.StartAfter, func(name string, de *pb.Dirent) (bool, error) {
		a, err := getAttr(snap, cairn.InodeID(de.Inode))
		if err != nil {
			return false, err
		}
		a.Name = name
		page = append(page, a)
		sent++
		if len(page) == pageSize {
			if err := stream.Send(&pb.ListResponse{Entries: page}); err != nil {
				return false, err
			}
			page = make([]*pb.Attr, 0, pageSize)
		}
		return req.Limit == 0 || sent < req.Limit, nil
	})
	if err != nil {
		return rpcerr.ToStatus(err)
	}
	if len(page) > 0 || sent == 0 {
		return stream.Send(&pb.ListResponse{Entries: page})
	}
	return nil
}

func (v *Service) AllocateChunks(ctx context.Context, req *pb.AllocateRequest) (*pb.AllocateResponse, error) {
	if err := v.s.requireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	n := int(req.Replication)
	if n == 0 {
		n = v.s.cfg.DefaultReplication
	}
	if req.Count == 0 || req.Count > 10000 || n > 16 {
		return nil, rpcerr.ToStatus(cairn.E("allocate", cairn.Invalid, fmt.Errorf("count %d must be 1..10000 and replication %d at most 16", req.Count, n)))
	}
	exclude := map[cairn.NodeID]bool{}
	for _, e := range req.Exclude {
		exclude[cairn.NodeID(e)] = true
	}
	resp := &pb.AllocateResponse{Chunks: make([]*pb.Allocation, req.Count)}
	for i := range resp.Chunks {
		id := cairn.NewChunkID()
		reps, err := v.s.reg.pick(id, n, exclude)
		if err != nil {
			return nil, rpcerr.ToStatus(err)
		}
		resp.Chunks[i] = &pb.Allocation{Id: id[:], Replicas: reps}
	}
	return resp, nil
}

func (v *Service) Lookup(ctx context.Context, req *pb.LookupRequest) (*pb.LookupResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = v.s.readable(ctx, req.Read)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	snap := v.s.fsm.db.NewSnapshot()
	defer snap.Close()
	a, err := resolve(snap, path)
	if err != nil {
		return nil, rpcerr.ToStatus(cairn.E("lookup", cairn.PathArg(path), err))
	}
	if a.Dir {
		return nil, rpcerr.ToStatus(cairn.E("lookup", cairn.PathArg(path), cairn.IsDir, errors.New("a directory has no content to read")))
	}
	resp := &pb.LookupResponse{Attr: a}
	err = fileChunks(snap, cairn.InodeID(a.Inode), req.Offset, req.Length, func(c *pb.ChunkRef) error {
		id, _ := cairn.ChunkIDFromBytes(c.Id)
		rec := &pb.ChunkRecord{}
		if _, err := getProto(snap, locKey(id), rec); err != nil {
			return err
		}
		resp.Chunks = append(resp.Chunks, &pb.ChunkLocation{Chunk: c, Replicas: v.s.replicas(rec.Nodes)})
		return nil
	})
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return resp, nil
}

// replicas orders a chunk's nodes for reading: alive first, then suspect,
// then leaving (stopping for a restart), then dead (still worth a try),
// unknown nodes last. Each replica carries its node's state.
func (s *Server) replicas(nodes []string) []*pb.Replica {
	var byState [5][]*pb.Replica
	for _, n := range nodes {
		addr, st, ok := s.reg.addr(cairn.NodeID(n))
		rank, state := 4, "unknown"
		if ok {
			state = st.String()
			switch st {
			case cairn.NodeAlive, cairn.NodeDraining:
				rank = 0
			case cairn.NodeSuspect:
				rank = 1
			case cairn.NodeLeaving:
				rank = 2
			case cairn.NodeDead:
				rank = 3
			}
		}
		byState[rank] = append(byState[rank], &pb.Replica{Node: n, Addr: addr, State: state})
	}
	var out []*pb.Replica
	for _, r := range byState {
		out = append(out, r...)
	}
	return out
}

func (v *Service) CreateUpload(ctx context.Context, req *pb.CreateUploadRequest) (*pb.UploadSession, error) {
	id := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + cairn.NewChunkID().String()[:12]
	if req.Replication == 0 {
		req.Replication = uint32(v.s.cfg.DefaultReplication)
	}
	resp, err := v.write(ctx, &pb.Command{Op: &pb.Command_CreateUpload{CreateUpload: req}, UploadId: id})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.UploadSession), nil
}

func (v *Service) AddUploadChunks(ctx context.Context, req *pb.AddUploadChunksRequest) (*pb.Empty, error) {
	if err := v.s.checkAge(req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_AddUploadChunks{AddUploadChunks: req}}); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

func (v *Service) GetUpload(ctx context.Context, req *pb.GetUploadRequest) (*pb.UploadSession, error) {
	if err := v.s.readable(ctx, nil); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	s, err := getUpload(v.s.fsm.db, req.Id)
	return s, rpcerr.ToStatus(err)
}

func (v *Service) ListUploads(ctx context.Context, req *pb.ListUploadsRequest) (*pb.ListUploadsResponse, error) {
	path := ""
	if req.Path != "" {
		var err error
		if path, err = cairn.CleanPath(req.Path); err != nil {
			return nil, rpcerr.ToStatus(err)
		}
	}
	if err := v.s.readable(ctx, nil); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	list, err := listUploads(v.s.fsm.db, path)
	return &pb.ListUploadsResponse{Sessions: list}, rpcerr.ToStatus(err)
}

func (v *Service) CompleteUpload(ctx context.Context, req *pb.CompleteUploadRequest) (*pb.StatResponse, error) {
	return statResp(v.write(ctx, &pb.Command{Op: &pb.Command_CompleteUpload{CompleteUpload: req}}))
}

func (v *Service) AbortUpload(ctx context.Context, req *pb.AbortUploadRequest) (*pb.Empty, error) {
	if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: req}}); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

func (v *Service) RegisterNode(ctx context.Context, req *pb.RegisterNodeRequest) (*pb.Empty, error) {
	if req.Id == "" || req.Addr == "" {
		return nil, rpcerr.ToStatus(cairn.E("register", cairn.Invalid, errors.New("node id and address are required")))
	}
	if _, err := v.write(ctx, &pb.Command{Op: &pb.Command_RegisterNode{RegisterNode: req}}); err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}

func (v *Service) Heartbeat(ctx context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	if err := v.s.requireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.HeartbeatResponse{Register: !v.s.reg.heartbeat(req)}, nil
}

func (v *Service) ClusterStatus(ctx context.Context, req *pb.ClusterStatusRequest) (*pb.ClusterStatusResponse, error) {
	if err := v.s.requireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return v.s.Status()
}

// Status describes the cluster as this peer sees it.
func (s *Server) Status() (*pb.ClusterStatusResponse, error) {
	_, id := s.raft.LeaderWithID()
	resp := &pb.ClusterStatusResponse{LeaderId: string(id), AppliedIndex: s.fsm.AppliedIndex(), CommitIndex: s.raft.CommitIndex()}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, rpcerr.ToStatus(cairn.E("status", cairn.Unavailable, err))
	}
	resp.Peers = s.peerStatuses(f.Configuration().Servers, id)
	for _, ps := range resp.Peers {
		if ps.Leader {
			resp.LeaderAddr = ps.ApiAddr
		}
	}
	if s.IsLeader() {
		resp.Nodes = s.reg.status()
		resp.Repair = s.repair.status()
	}
	return resp, nil
}
