// Package grpcapi is the gRPC front end of a metadata peer: it implements
// the Meta service of proto/cairn.proto over a Backend, the small
// interfaces it needs of the peer (Proposer, Members) with the peer's
// state machine, registry and healer. NewService builds the Backend of a
// Raft server (meta.Server); New takes any, such as the one package
// meta/inprocess runs without Raft for tests. Each handler checks its
// request, gates it (the ready leader for writes and linearizable reads),
// proposes commands or reads the state machine, and converts its error
// with rpcerr.ToStatus, the one mapping from kinds to gRPC codes.
//
// The handlers are grouped by the consumer they serve (namespace, data
// path, data nodes, operators, credentials); Service joins the groups into
// the one service the wire protocol has today.
//
// It imports meta and its subpackages, rpcerr, the generated stubs and
// gRPC. Only the processes that serve the API (server, cmd, the in-process
// test cluster, meta/inprocess) import it.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/meta/heal"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// Service is the gRPC front end of a metadata peer.
type Service struct {
	unimplemented
	namespaceAPI
	dataAPI
	nodeAPI
	opsAPI
	credentialsAPI
}

// unimplemented answers RPCs no group implements (newer clients' calls).
// Embedded one level deeper than the groups, its methods never shadow
// theirs.
type unimplemented struct{ pb.UnimplementedMetaServer }

// NewService returns the gRPC front end for s, a started Raft server.
func NewService(s *meta.Server) *Service {
	cfg := s.Config()
	return New(Backend{
		Config:   Config{DefaultReplication: cfg.DefaultReplication, MaxWriteAge: cfg.MaxWriteAge, NodeDeadAfter: cfg.NodeDeadAfter, Logger: cfg.Logger},
		Proposer: s.Proposer(), Members: s.Members(), State: s.State(), Registry: s.Registry(), Healer: s.Healer(),
	})
}

// Register adds the service to a gRPC server.
func (v *Service) Register(g *grpc.Server) { pb.RegisterMetaServer(g, v) }

// core is what every handler group works with.
type core struct {
	prop    Proposer
	members Members
	st      *state.Machine
	reg     *registry.Registry
	heal    *heal.Healer
	cfg     Config
}

// write proposes cmd and returns its result, the error as a gRPC status.
func (c *core) write(ctx context.Context, cmd *pb.Command) (proto.Message, error) {
	resp, err := c.prop.Propose(ctx, cmd)
	return resp, rpcerr.ToStatus(err)
}

func statResp(m proto.Message, err error) (*pb.StatResponse, error) {
	if err != nil {
		return nil, err
	}
	return m.(*pb.StatResponse), nil
}

// empty turns a result into the Empty answer.
func empty(_ proto.Message, err error) (*pb.Empty, error) {
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, nil
}
