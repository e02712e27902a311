package grpcapi

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn/meta/heal"
	"github.com/cairnfs/cairn/meta/keyring"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Backend is what the front end serves: the door to the log and the
// leader gate (Proposer), the membership (Members), and the peer's real
// state machine, node registry, healer and token keyring (nil when the
// peer runs without TLS: no tokens are minted). A metadata peer's Backend
// comes from its Raft server (NewService); package meta/inprocess builds
// one without Raft for tests.
type Backend struct {
	Config   Config
	Proposer Proposer
	Members  Members
	State    *state.Machine
	Registry *registry.Registry
	Healer   *heal.Healer
	Keyring  *keyring.Keyring
}

// Config is what the handlers need of the peer's configuration.
type Config struct {
	DefaultReplication int           // replicas for new chunks when the client names none
	MaxWriteAge        time.Duration // chunks allocated longer ago are refused
	NodeDeadAfter      time.Duration // how long a leaving node may stay away before repair (logged)
	Logger             *slog.Logger  // default slog.Default()
	// Secrets seals S3 secrets before they are proposed (so the Raft log
	// and the state hold them sealed) and opens them for GetSecret; nil
	// stores new secrets in clear (meta/secrets).
	Secrets *secrets.Sealer
}

// Proposer proposes commands and gates the work that needs the ready
// leader (meta.Proposer over Raft). Its errors carry cairn kinds, which
// the handlers encode with rpcerr.ToStatus.
type Proposer interface {
	// Propose applies cmd through the log and returns its result once it
	// is applied on this peer. NotLeader means it was not accepted;
	// Unavailable (marked retryable) means it may or may not have
	// applied; any other error is the command's own, and it changed
	// nothing.
	Propose(ctx context.Context, cmd *pb.Command) (proto.Message, error)
	// RequireLeader returns nil on the ready leader, else NotLeader with
	// a leader hint.
	RequireLeader() error
	// Readable returns nil when a read that begins now may be answered
	// from this peer's state: linearizable unless stale. It returns
	// NotLeader with a hint, or a retryable Unavailable.
	Readable(ctx context.Context, stale bool) error
	// VerifyLeader confirms, after the call began, that this peer still
	// leads; any error means it may not.
	VerifyLeader(ctx context.Context) error
}

// Members changes and describes the metadata peers (meta.Members over
// Raft). Its errors carry cairn kinds: NotLeader on a follower, Invalid,
// NotFound or Conflict for a request that does not fit the membership,
// Unavailable when the change was not confirmed in time.
type Members interface {
	AddPeer(ctx context.Context, req *pb.AddPeerRequest) error
	RemovePeer(ctx context.Context, id string) error
	// Peers describes the members as this peer sees them.
	Peers() (*pb.PeersResponse, error)
	// Status describes the cluster; on the leader it includes the data
	// nodes and the healer's progress.
	Status() (*pb.ClusterStatusResponse, error)
}

// New returns the gRPC front end over b. Every field of b must be set
// (Config.Logger and Keyring may be nil).
func New(b Backend) *Service {
	if b.Config.Logger == nil {
		b.Config.Logger = slog.Default()
	}
	c := &core{prop: b.Proposer, members: b.Members, st: b.State, reg: b.Registry, heal: b.Healer, keys: b.Keyring, cfg: b.Config, users: &userCache{}}
	return newService(c)
}
