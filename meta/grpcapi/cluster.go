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

// WhoAmI answers the principal the call acts as.
func (a clusterAPI) WhoAmI(ctx context.Context, _ *pb.WhoAmIRequest) (*pb.WhoAmIResponse, error) {
	p, err := a.c.principal(ctx)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	resp := &pb.WhoAmIResponse{Name: p.name, Superuser: p.super(), Identity: p.id.Name}
	for _, r := range p.id.Roles {
		resp.Roles = append(resp.Roles, string(r))
	}
	if p.user != nil {
		resp.Uid, resp.Gid = p.user.Uid, p.user.Gid
		resp.Groups = p.user.Groups
	}
	return resp, nil
}
