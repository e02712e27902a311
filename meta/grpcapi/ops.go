package grpcapi

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// operatorAPI serves the Operator service: membership changes, draining,
// fsck and quotas.
type operatorAPI struct {
	pb.UnimplementedOperatorServer
	c *core
}

func (a operatorAPI) AddPeer(ctx context.Context, req *pb.AddPeerRequest) (*pb.Empty, error) {
	if err := a.c.members.AddPeer(ctx, req); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.Empty{}, nil
}

func (a operatorAPI) RemovePeer(ctx context.Context, req *pb.RemovePeerRequest) (*pb.Empty, error) {
	if err := a.c.members.RemovePeer(ctx, req.Id); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.Empty{}, nil
}

// Drain takes a data node out of placement (or puts it back with undo);
// the healer then moves its chunks to other nodes.
func (a operatorAPI) Drain(ctx context.Context, req *pb.DrainRequest) (*pb.Empty, error) {
	if req.Node == "" {
		return nil, rpcerr.ToStatus(cairn.E("drain", cairn.Invalid, errors.New("node id is empty")))
	}
	if _, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_Drain{Drain: req}}); err != nil {
		return nil, err
	}
	a.c.heal.Kick()
	return &pb.Empty{}, nil
}

// SetQuota sets, changes or clears a directory's quota (a Raft write).
func (a operatorAPI) SetQuota(ctx context.Context, req *pb.SetQuotaRequest) (*pb.StatResponse, error) {
	return statResp(a.c.write(ctx, &pb.Command{Op: &pb.Command_SetQuota{SetQuota: req}}))
}

// Fsck streams every chunk with fewer healthy replicas than its file's
// replication (see heal.Healer.Fsck).
func (a operatorAPI) Fsck(req *pb.FsckRequest, stream grpc.ServerStreamingServer[pb.FsckResponse]) error {
	if err := a.c.prop.RequireLeader(); err != nil {
		return rpcerr.ToStatus(err)
	}
	return rpcerr.ToStatus(a.c.heal.Fsck(stream.Send))
}
