package client

import (
	"context"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// AddPeer adds a metadata peer to the Raft configuration: as a non-voter
// first, promoted to voter once it has caught up with the log (waiting for
// up to the context's deadline, at most 2 minutes). apiAddr is the peer's
// gRPC address; empty means the peer records its own once it follows. It
// is safe to repeat. On a catch-up timeout the peer stays a non-voter and
// the error says so; run AddPeer again or RemovePeer.
func (c *Client) AddPeer(ctx context.Context, id, raftAddr, apiAddr string) error {
	return c.leader(ctx, func(ctx context.Context, m pb.MetaClient) error {
		_, err := m.AddPeer(ctx, &pb.AddPeerRequest{Id: id, RaftAddr: raftAddr, ApiAddr: apiAddr})
		return err
	})
}

// RemovePeer removes a metadata peer from the Raft configuration. It is
// refused (Invalid) for the last voter and (Conflict) when the voters left
// would not have a reachable quorum. Removing the leader hands leadership
// to another peer first. A retry of a removal that succeeded reports
// NotFound.
func (c *Client) RemovePeer(ctx context.Context, id string) error {
	return c.leader(ctx, func(ctx context.Context, m pb.MetaClient) error {
		_, err := m.RemovePeer(ctx, &pb.RemovePeerRequest{Id: id})
		return err
	})
}

// Peers returns the metadata cluster's members as one peer sees them: the
// leader when it is known, else any peer that answers (its view may lag).
func (c *Client) Peers(ctx context.Context) (*pb.PeersResponse, error) {
	var resp *pb.PeersResponse
	err := c.meta.Any(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		resp, err = m.Peers(ctx, &pb.PeersRequest{})
		return err
	})
	return resp, err
}

// MetaAddrs returns the metadata peers' API addresses this client knows:
// those learned from the cluster first, then the ones it was given.
func (c *Client) MetaAddrs() []string { return c.meta.Addrs() }
