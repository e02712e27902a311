package meta

import (
	"context"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// The operations RPCs: membership changes, discovery and planned
// departures of data nodes (membership.go does the work).

func (v *Service) AddPeer(ctx context.Context, req *pb.AddPeerRequest) (*pb.Empty, error) {
	if err := v.s.AddPeer(ctx, req); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.Empty{}, nil
}

func (v *Service) RemovePeer(ctx context.Context, req *pb.RemovePeerRequest) (*pb.Empty, error) {
	if err := v.s.RemovePeer(ctx, req.Id); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.Empty{}, nil
}

func (v *Service) Peers(ctx context.Context, req *pb.PeersRequest) (*pb.PeersResponse, error) {
	resp, err := v.s.Peers()
	return resp, rpcerr.ToStatus(err)
}

func (v *Service) Leave(ctx context.Context, req *pb.LeaveRequest) (*pb.Empty, error) {
	if err := v.s.Leave(req); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.Empty{}, nil
}
