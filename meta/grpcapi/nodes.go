package grpcapi

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// nodeAPI serves the Nodes service, for data nodes: registration, heartbeats, planned stops,
// corrupt replicas and reconciliation.
type nodeAPI struct {
	pb.UnimplementedNodesServer
	c *core
}

func (a nodeAPI) RegisterNode(ctx context.Context, req *pb.RegisterNodeRequest) (*pb.RegisterNodeResponse, error) {
	if req.Id == "" || req.Addr == "" {
		return nil, rpcerr.ToStatus(cairn.E("register", cairn.Invalid, errors.New("node id and address are required")))
	}
	if err := checkNodeID(ctx, "register", req.Id); err != nil {
		return nil, err
	}
	if _, err := a.c.write(ctx, &pb.Command{Op: &pb.Command_RegisterNode{RegisterNode: req}}); err != nil {
		return nil, err
	}
	keys, err := a.c.tokenKeys()
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.RegisterNodeResponse{TokenKeys: keys}, nil
}

func (a nodeAPI) Heartbeat(ctx context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	if err := checkNodeID(ctx, "heartbeat", req.Id); err != nil {
		return nil, err
	}
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	known := a.c.reg.Heartbeat(req)
	keys, err := a.c.tokenKeys()
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.HeartbeatResponse{Register: !known, TokenKeys: keys}, nil
}

// Leave records that a data node stops on purpose (see registry.Leave).
func (a nodeAPI) Leave(ctx context.Context, req *pb.LeaveRequest) (*pb.Empty, error) {
	if err := checkNodeID(ctx, "leave", req.Id); err != nil {
		return nil, err
	}
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if !a.c.reg.Leave(cairn.NodeID(req.Id)) {
		return nil, rpcerr.ToStatus(cairn.E("leave", cairn.PathArg(req.Id), cairn.NotFound, errors.New("no such data node is registered")))
	}
	a.c.cfg.Logger.Info("data node is stopping for a planned restart; its chunks are not repaired unless it stays away past the dead timeout",
		"node", req.Id, "dead_after", a.c.cfg.NodeDeadAfter)
	return &pb.Empty{}, nil
}

// ReportCorrupt drops a node's replicas of chunks that it found corrupt (it
// has already deleted them); the healer restores the replication.
func (a nodeAPI) ReportCorrupt(ctx context.Context, req *pb.ReportCorruptRequest) (*pb.Empty, error) {
	if err := checkNodeID(ctx, "report-corrupt", req.Node); err != nil {
		return nil, err
	}
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if err := a.c.heal.ReportCorrupt(ctx, req.Node, req.Chunks); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.Empty{}, nil
}

// Reconcile answers which of a node's chunks it may delete (see
// heal.Healer.Reconcile), after confirming leadership with a quorum.
func (a nodeAPI) Reconcile(ctx context.Context, req *pb.ReconcileRequest) (*pb.ReconcileResponse, error) {
	if err := checkNodeID(ctx, "reconcile", req.Node); err != nil {
		return nil, err
	}
	if err := a.c.prop.RequireLeader(); err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	if err := a.c.prop.VerifyLeader(ctx); err != nil {
		return nil, rpcerr.ToStatus(cairn.E("reconcile", cairn.NotLeader, err))
	}
	del, err := a.c.heal.Reconcile(req.Node, req.Chunks)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	return &pb.ReconcileResponse{Delete: del}, nil
}

// checkNodeID refuses a call about data node id from a caller whose
// certificate does not name it, so one node's certificate cannot register
// as, heartbeat for, deregister or speak for another. The certificate's
// name must be the ID, or a fleet pattern that covers it (node-* covers
// every ID a node makes for itself, node-<8 hex digits>; see
// pki.Identity.Covers). A caller that also holds the meta role (cairn
// server's own certificate) is trusted with every ID, as a metadata peer
// is trusted with everything. A call without TLS (an --insecure peer) is
// not checked: there is no certificate to bind to.
func checkNodeID(ctx context.Context, op, id string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	if _, tls := p.AuthInfo.(credentials.TLSInfo); !tls {
		return nil
	}
	caller, err := callerIdentity(ctx)
	if err != nil {
		return rpcerr.ToStatus(cairn.E(op, cairn.Permission, err))
	}
	if caller.Has(pki.Meta) || caller.Covers(id) {
		return nil
	}
	return rpcerr.ToStatus(cairn.E(op, cairn.PathArg(id), cairn.Permission, fmt.Errorf(
		"the certificate of %s does not name data node %q: a node may only act under the ID its certificate names (issue it with --name %s, or a fleet certificate --name 'node-*' for nodes that pick their own IDs)",
		caller, id, id)))
}
