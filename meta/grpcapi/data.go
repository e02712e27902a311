package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// dataAPI serves the Data service, the data path: chunk allocation,
// commits, chunk locations for reads, upload sessions and their parts.
type dataAPI struct {
	pb.UnimplementedDataServer
	c *core
}

// checkAge refuses chunks allocated longer than MaxWriteAge ago.
func (a dataAPI) checkAge(chunks []*pb.StoredChunk) error {
	return state.CheckAge(chunks, a.c.cfg.MaxWriteAge, time.Now())
}

func (a dataAPI) AllocateChunks(ctx context.Context, req *pb.AllocateRequest) (*pb.AllocateResponse, error) {
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	// Write tokens only for callers that are a namespace principal; what
	// they may commit the chunks to is checked by Commit.
	if _, err := a.c.principal(ctx); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	n := int(req.Replication)
	if n == 0 {
		n = a.c.cfg.DefaultReplication
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
		reps, err := a.c.reg.Pick(id, n, exclude)
		if err != nil {
			return nil, rpcerr.ToStatus(err)
		}
		resp.Chunks[i] = &pb.Allocation{Id: id[:], Replicas: reps}
	}
	if err := a.c.mintAllocations(ctx, resp); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return resp, nil
}

func (a dataAPI) Commit(ctx context.Context, req *pb.CommitRequest) (*pb.StatResponse, error) {
	if err := state.CheckXattrs(req.Xattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if err := a.checkAge(req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if req.Replication == 0 {
		req.Replication = uint32(a.c.cfg.DefaultReplication)
	}
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_Commit{Commit: req}}))
}

func (a dataAPI) CreateUpload(ctx context.Context, req *pb.CreateUploadRequest) (*pb.UploadSession, error) {
	id := strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + cairn.NewChunkID().String()[:12]
	if req.Replication == 0 {
		req.Replication = uint32(a.c.cfg.DefaultReplication)
	}
	resp, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_CreateUpload{CreateUpload: req}, UploadId: id})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.UploadSession), nil
}

func (a dataAPI) AddUploadChunks(ctx context.Context, req *pb.AddUploadChunksRequest) (*pb.Empty, error) {
	if err := a.checkAge(req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_AddUploadChunks{AddUploadChunks: req}}))
}

func (a dataAPI) GetUpload(ctx context.Context, req *pb.GetUploadRequest) (*pb.UploadSession, error) {
	p, err := a.c.readablePrincipal(ctx)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	s, err := a.c.st.Latest().Upload(req.Id)
	if err == nil {
		err = ownSession(p, s)
	}
	return s, rpcerr.ToStatus(err)
}

func (a dataAPI) ListUploads(ctx context.Context, req *pb.ListUploadsRequest) (*pb.ListUploadsResponse, error) {
	path := ""
	if req.Path != "" {
		var err error
		if path, err = cairn.CleanPath(req.Path); err != nil {
			return nil, rpcerr.ToStatus(err)
		}
	}
	p, err := a.c.readablePrincipal(ctx)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	list, err := a.c.st.Latest().Uploads(path)
	if !p.super() {
		// Each caller sees its own sessions.
		list = slices.DeleteFunc(list, func(s *pb.UploadSession) bool { return s.OwnerUid != p.caller.Uid })
	}
	return &pb.ListUploadsResponse{Sessions: list}, rpcerr.ToStatus(err)
}

func (a dataAPI) CompleteUpload(ctx context.Context, req *pb.CompleteUploadRequest) (*pb.StatResponse, error) {
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_CompleteUpload{CompleteUpload: req}}))
}

func (a dataAPI) AbortUpload(ctx context.Context, req *pb.AbortUploadRequest) (*pb.Empty, error) {
	return empty(a.c.write(ctx, &pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: req}}))
}

func (a dataAPI) PutUploadPart(ctx context.Context, req *pb.PutUploadPartRequest) (*pb.UploadPart, error) {
	if err := a.checkAge(req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	resp, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_PutUploadPart{PutUploadPart: req}})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.UploadPart), nil
}

func (a dataAPI) ListUploadParts(ctx context.Context, req *pb.ListUploadPartsRequest) (*pb.ListUploadPartsResponse, error) {
	p, err := a.c.readablePrincipal(ctx)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	s, parts, err := a.c.st.Latest().MultipartParts(req.Id)
	if err == nil {
		err = ownSession(p, s)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.ListUploadPartsResponse{Session: s, Parts: parts}, nil
}

func (a dataAPI) CompleteParts(ctx context.Context, req *pb.CompletePartsRequest) (*pb.StatResponse, error) {
	if err := state.CheckXattrs(req.Xattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_CompleteParts{CompleteParts: req}}))
}

func (a dataAPI) Lookup(ctx context.Context, req *pb.LookupRequest) (*pb.LookupResponse, error) {
	path, err := cairn.CleanPath(req.Path)
	if err == nil {
		err = a.c.prop.Readable(ctx, req.Read.GetStale())
	}
	var p principal
	if err == nil {
		p, err = a.c.principal(ctx)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	v := a.c.st.View()
	defer v.Close()
	attr, err := v.StatAs(path, p.caller, state.AccessNone)
	if err == nil && !attr.Dir {
		// Read tokens go only to callers that may read the file.
		attr, err = v.StatAs(path, p.caller, state.AccessRead)
	}
	if err == nil {
		err = a.c.users.names(a.c.st, attr)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(cairn.E("lookup", cairn.PathArg(path), err))
	}
	if attr.Dir {
		return nil, rpcerr.ToStatus(cairn.E("lookup", cairn.PathArg(path), cairn.IsDir, errors.New("a directory has no content to read")))
	}
	resp := &pb.LookupResponse{Attr: attr}
	err = v.Chunks(cairn.InodeID(attr.Inode), req.Offset, req.Length, func(c *pb.ChunkRef) error {
		id, _ := cairn.ChunkIDFromBytes(c.Id)
		rec, _, err := v.Chunk(id)
		if err != nil {
			return err
		}
		resp.Chunks = append(resp.Chunks, &pb.ChunkLocation{Chunk: c, Replicas: replicas(a.c.reg, rec.Nodes)})
		return nil
	})
	if err == nil {
		err = a.c.mintLookup(ctx, resp)
	}
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return resp, nil
}

// replicas orders a chunk's nodes for reading: alive first, then suspect,
// then leaving (stopping for a restart), then dead (still worth a try),
// unknown nodes last. Each replica carries its node's state.
func replicas(reg *registry.Registry, nodes []string) []*pb.Replica {
	var byState [5][]*pb.Replica
	for _, n := range nodes {
		addr, st, ok := reg.Addr(cairn.NodeID(n))
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

// readablePrincipal gates a linearizable read and returns the call's
// principal.
func (c *core) readablePrincipal(ctx context.Context) (principal, error) {
	if err := c.prop.Readable(ctx, false); err != nil {
		return principal{}, err
	}
	return c.principal(ctx)
}

// ownSession refuses an upload session of another user (Permission).
func ownSession(p principal, s *pb.UploadSession) error {
	if state.Owns(p.caller, s.OwnerUid) {
		return nil
	}
	return cairn.E("upload", cairn.PathArg(s.Id), cairn.Permission,
		fmt.Errorf("%s may not see upload session %s of %s: it belongs to uid %d", p.name, s.Id, s.Path, s.OwnerUid))
}

// ReportSlow notes that a caller gave up on a data node for making no
// progress; placement prefers other nodes for a while
// (registry.ReportSlow). The reporter's identity goes to the log.
func (a dataAPI) ReportSlow(ctx context.Context, req *pb.ReportSlowRequest) (*pb.Empty, error) {
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	reporter := "an insecure caller"
	if id, err := callerIdentity(ctx); err == nil {
		reporter = id.String()
	}
	if len(req.Reason) > 512 {
		req.Reason = req.Reason[:512]
	}
	if !a.c.reg.ReportSlow(cairn.NodeID(req.Node), req.Reason+" (reported by "+reporter+")") {
		return nil, rpcerr.ToStatus(cairn.E("report-slow", cairn.PathArg(req.Node), cairn.NotFound, errors.New("no such data node")))
	}
	return &pb.Empty{}, nil
}
