package grpcapi

import (
	"context"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// clusterAPI serves the Cluster service: discovery and status, read-only.
type clusterAPI struct {
	pb.UnimplementedClusterServer
	c *core
}

// Peers is answered by any peer from its own view.
func (a clusterAPI) Peers(ctx context.Context, req *pb.PeersRequest) (*pb.PeersResponse, error) {
	resp, err := a.c.members.Peers()
	return resp, rpcerr.ToStatus(err)
}

func (a clusterAPI) ClusterStatus(ctx context.Context, req *pb.ClusterStatusRequest) (*pb.ClusterStatusResponse, error) {
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	resp, err := a.c.members.Status()
	return resp, rpcerr.ToStatus(err)
}
