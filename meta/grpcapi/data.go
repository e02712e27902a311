package grpcapi

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// dataAPI serves the data path: chunk allocation, commits, upload sessions
// and their parts.
type dataAPI struct{ c *core }

// checkAge refuses chunks allocated longer than MaxWriteAge ago.
func (a dataAPI) checkAge(chunks []*pb.StoredChunk) error {
	return state.CheckAge(chunks, a.c.cfg.MaxWriteAge, time.Now())
}

func (a dataAPI) AllocateChunks(ctx context.Context, req *pb.AllocateRequest) (*pb.AllocateResponse, error) {
	if err := a.c.prop.RequireLeader(); err != nil {
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
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	s, err := a.c.st.Latest().Upload(req.Id)
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
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	list, err := a.c.st.Latest().Uploads(path)
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
	if err := a.c.prop.Readable(ctx, false); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	s, parts, err := a.c.st.Latest().MultipartParts(req.Id)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.ListUploadPartsResponse{Session: s, Parts: parts}, nil
}

func (a dataAPI) CompleteMultipart(ctx context.Context, req *pb.CompleteMultipartRequest) (*pb.StatResponse, error) {
	if err := state.CheckXattrs(req.Xattrs); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_CompleteMultipart{CompleteMultipart: req}}))
}
