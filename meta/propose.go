package meta

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// Proposer is the door to the replicated log on this peer: it proposes
// commands and tells whether this peer may serve writes and linearizable
// reads (it leads and has applied an entry of its own term). Its errors are
// NotLeader with a leader hint, or Unavailable marked retryable when the
// outcome is unknown.
type Proposer struct {
	raft  *raft.Raft
	st    *state.Machine
	met   *metrics
	check *leaderCheck
	stop  <-chan struct{}
	ready atomic.Bool // leads and has applied an entry of its own term
}

// Propose replicates cmd through Raft and returns its result once applied
// here. NotLeader means it was not accepted; after a lost leadership the
// outcome is unknown (the entry may still commit), reported as a retryable
// Unavailable.
func (p *Proposer) Propose(ctx context.Context, cmd *pb.Command) (proto.Message, error) {
	cmd.NowNs = time.Now().UnixNano()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, cairn.E("meta.propose", cairn.Internal, err)
	}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	res, err := p.apply(ctx, data, timeout)
	p.met.observe(start, err)
	return res, err
}

// apply hands data to Raft and waits for its result, the caller's context,
// or shutdown. (A future whose entry was queued when Raft shut down is
// never answered, so waiting on it alone could block forever.)
func (p *Proposer) apply(ctx context.Context, data []byte, timeout time.Duration) (proto.Message, error) {
	f := p.raft.Apply(data, timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, rpcerr.Retryable(cairn.E("meta.propose", cairn.Unavailable, fmt.Errorf("gave up waiting for the commit; the change may or may not have applied: %w", ctx.Err())))
	case <-p.stop:
		return nil, rpcerr.Retryable(cairn.E("meta.propose", cairn.Unavailable, errors.New("metadata peer is shutting down; the change may or may not have applied")))
	}
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return nil, p.notLeader()
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, rpcerr.Retryable(cairn.E("meta.propose", cairn.Unavailable, fmt.Errorf("leadership lost while committing; the change may or may not have applied: %w", err)))
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, rpcerr.Retryable(cairn.E("meta.propose", cairn.Unavailable, err))
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, rpcerr.Retryable(cairn.E("meta.propose", cairn.Unavailable, errors.New("metadata peer is shutting down")))
		}
		return nil, cairn.E("meta.propose", cairn.Internal, err)
	}
	res, ok := f.Response().(state.Result)
	if !ok {
		return nil, cairn.E("meta.propose", cairn.Internal, fmt.Errorf("unexpected apply response %T", f.Response()))
	}
	return res.Resp, res.Err
}

// IsLeader reports whether this peer leads and has caught up.
func (p *Proposer) IsLeader() bool { return p.ready.Load() && p.raft.State() == raft.Leader }

// notLeader is the NotLeader error with a hint: the leader's ID and, when
// recorded, its API address.
func (p *Proposer) notLeader() error {
	addr, id := p.raft.LeaderWithID()
	hint := &rpcerr.LeaderHint{ID: string(id)}
	if id != "" {
		hint.Addr = p.st.Latest().PeerAPI(string(id))
	} else if addr == "" {
		hint.ID = ""
	}
	return cairn.E("meta", cairn.NotLeader, hint)
}

// RequireLeader is the gate for operations that bypass the log
// (allocation, heartbeats) or act for the cluster: they need the ready
// leader. Otherwise it returns NotLeader with a hint.
func (p *Proposer) RequireLeader() error {
	if !p.IsLeader() {
		return p.notLeader()
	}
	return nil
}

// Readable makes a read linearizable: on the leader it confirms leadership
// with a quorum after the call began; a stale read may be served by any
// peer from its own state. It returns NotLeader with a hint, or a
// retryable Unavailable when the confirmation failed otherwise.
func (p *Proposer) Readable(ctx context.Context, stale bool) error {
	if stale {
		return nil
	}
	if !p.IsLeader() {
		return p.notLeader()
	}
	if err := p.check.wait(ctx); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return p.notLeader()
		}
		return rpcerr.Retryable(cairn.E("meta.read", cairn.Unavailable, err))
	}
	return nil
}

// VerifyLeader confirms leadership with a quorum after the call began
// (coalesced with concurrent reads). It returns Raft's error, or Canceled
// when ctx ends first.
func (p *Proposer) VerifyLeader(ctx context.Context) error { return p.check.wait(ctx) }
