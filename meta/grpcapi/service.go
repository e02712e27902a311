// Package grpcapi is the gRPC front end of a metadata peer: it implements
// the services of proto/cairn.proto over a Backend, the small
// interfaces it needs of the peer (Proposer, Members) with the peer's
// state machine, registry and healer. NewService builds the Backend of a
// Raft server (meta.Server); New takes any, such as the one package
// meta/inprocess runs without Raft for tests. Each handler checks its
// request, gates it (the ready leader for writes and linearizable reads),
// proposes commands or reads the state machine, and converts its error
// with rpcerr.ToStatus, the one mapping from kinds to gRPC codes.
//
// The handlers are grouped by the consumer they serve, one group per gRPC
// service: Namespace (namespaceAPI), Data (dataAPI), Nodes (nodeAPI),
// Cluster (clusterAPI), Operator (operatorAPI) and Credentials
// (credentialsAPI). Each group embeds its generated Unimplemented server,
// which answers RPCs the group does not implement (newer clients' calls);
// Service registers them all.
//
// It imports meta and its subpackages, rpcerr, the generated stubs and
// gRPC. Only the processes that serve the API (server, cmd, the in-process
// test cluster, meta/inprocess) import it.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/meta/heal"
	"github.com/cairnfs/cairn/meta/keyring"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/requestid"
	"github.com/cairnfs/cairn/rpcerr"
)

// Service is the gRPC front end of a metadata peer: one handler group per
// service of the API.
type Service struct {
	namespace   namespaceAPI
	data        dataAPI
	nodes       nodeAPI
	cluster     clusterAPI
	operator    operatorAPI
	credentials credentialsAPI
}

// NewService returns the gRPC front end for s, a started Raft server.
func NewService(s *meta.Server) *Service {
	cfg := s.Config()
	return New(Backend{
		Config: Config{DefaultReplication: cfg.DefaultReplication, MaxWriteAge: cfg.MaxWriteAge, NodeDeadAfter: cfg.NodeDeadAfter, Logger: cfg.Logger,
			Secrets: cfg.Secrets},
		Proposer: s.Proposer(), Members: s.Members(), State: s.State(), Registry: s.Registry(), Healer: s.Healer(), Keyring: s.Keyring(),
	})
}

// newService builds every handler group over c.
func newService(c *core) *Service {
	return &Service{namespace: namespaceAPI{c: c}, data: dataAPI{c: c}, nodes: nodeAPI{c: c}, cluster: clusterAPI{c: c},
		operator: operatorAPI{c: c}, credentials: credentialsAPI{c: c}}
}

// Register adds every service of the API to a gRPC server.
func (v *Service) Register(g grpc.ServiceRegistrar) {
	pb.RegisterNamespaceServer(g, v.namespace)
	pb.RegisterDataServer(g, v.data)
	pb.RegisterNodesServer(g, v.nodes)
	pb.RegisterClusterServer(g, v.cluster)
	pb.RegisterOperatorServer(g, v.operator)
	pb.RegisterCredentialsServer(g, v.credentials)
}

// core is what every handler group works with.
type core struct {
	prop    Proposer
	members Members
	st      *state.Machine
	reg     *registry.Registry
	heal    *heal.Healer
	keys    *keyring.Keyring // nil: no tokens (--insecure)
	cfg     Config
	users   *userCache
}

// write proposes cmd as the call's principal (caller.go) and returns its
// result, the error as a gRPC status. A call that names itself
// (requestid.Header) gets the result of its first application if it is a
// retry (see state.RequestTTL).
func (c *core) write(ctx context.Context, cmd *pb.Command) (proto.Message, error) {
	p, err := c.principal(ctx)
	if err != nil {
		return nil, rpcerr.ToStatus(err)
	}
	cmd.Caller = p.caller
	if id, err := requestid.From(ctx); err != nil {
		return nil, rpcerr.ToStatus(cairn.E("request", cairn.Invalid, err))
	} else if id != nil {
		cmd.Request = &pb.RequestID{Client: id.Client, Seq: id.Seq}
	}
	resp, err := c.prop.Propose(ctx, cmd)
	if sr, ok := resp.(*pb.StatResponse); ok && err == nil {
		err = c.users.names(c.st, sr.Attr)
	}
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
