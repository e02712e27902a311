package inprocess

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// applier stands where a metadata peer has Raft: it applies each proposed
// command to the state machine at once, one at a time, with the next log
// index, and it is the leader gate (always open while the server
// serves). It implements grpcapi.Proposer and the healer's Proposer and
// Leader.
type applier struct {
	st      *state.Machine
	reg     *registry.Registry
	serving *atomic.Bool

	mu     sync.Mutex // one command at a time, in index order
	closed bool       // the state machine is closed
}

// errClosed is what the gate answers once the server stops.
var errClosed = errors.New("the in-process metadata service is closed")

// Propose applies cmd and returns its result. A context that ended
// before the command was applied fails it with Canceled (it did not
// apply); once applying began the command runs to its end. Any other
// error is the command's own, and it changed nothing.
func (a *applier) Propose(ctx context.Context, cmd *pb.Command) (proto.Message, error) {
	cmd.NowNs = time.Now().UnixNano()
	// The command crosses a log on a metadata peer; crossing the
	// encoding here too keeps the state machine from sharing the
	// caller's messages.
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, cairn.E("inprocess.propose", cairn.Internal, err)
	}
	entry := &pb.Command{}
	if err := proto.Unmarshal(data, entry); err != nil {
		return nil, cairn.E("inprocess.propose", cairn.Internal, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, cairn.E("inprocess.propose", err)
	}
	if a.closed {
		return nil, cairn.E("inprocess.propose", cairn.Unavailable, errClosed)
	}
	index := a.st.AppliedIndex() + 1
	res, applied := a.st.Apply(index, entry)
	if !applied {
		return nil, cairn.E("inprocess.propose", cairn.Internal, fmt.Errorf("the state machine skipped entry %d", index))
	}
	switch entry.Op.(type) {
	case *pb.Command_RegisterNode, *pb.Command_Drain:
		if err := a.loadRegistry(); err != nil {
			return nil, err
		}
	}
	return res.Resp, res.Err
}

// loadRegistry hands the registered data nodes to the registry, as a
// metadata peer does after entries that change them.
func (a *applier) loadRegistry() error {
	recs, err := a.st.Latest().Nodes()
	if err != nil {
		return err
	}
	a.reg.Load(recs)
	return nil
}

// IsLeader reports whether the server serves: it leads until it closes.
func (a *applier) IsLeader() bool { return a.serving.Load() }

// RequireLeader returns nil while the server serves, else Unavailable.
func (a *applier) RequireLeader() error {
	if !a.IsLeader() {
		return cairn.E("inprocess", cairn.Unavailable, errClosed)
	}
	return nil
}

// Readable returns nil while the server serves: every command that
// returned is applied, so any read that begins now is linearizable.
func (a *applier) Readable(ctx context.Context, stale bool) error { return a.RequireLeader() }

// VerifyLeader returns nil while the server serves: no other peer can
// lead.
func (a *applier) VerifyLeader(ctx context.Context) error { return a.RequireLeader() }

// close closes the state machine once no command runs; later proposals
// fail with Unavailable.
func (a *applier) close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	return a.st.Close()
}
