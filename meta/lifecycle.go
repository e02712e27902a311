package meta

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cairnfs/cairn"
)

// readySlack is how many entries a follower's state machine may trail the
// leader's commit index and still count as ready.
const readySlack = 64

// ReadyStatus reports whether the peer can serve and, when it cannot, why.
// Ready means: it leads and has applied an entry of its own term, or it
// is a member that follows a leader it heard from recently and its state
// machine is within readySlack entries of the leader's commit index. A
// peer that is shutting down, or is not (or no longer) a member, is not
// ready.
func (s *Server) ReadyStatus() (bool, string) {
	if !s.started.Load() {
		return false, "not started"
	}
	if s.stopping.Load() {
		return false, "shutting down"
	}
	if s.IsLeader() {
		return true, "leader"
	}
	if s.raft.State() == raft.Leader {
		return false, "newly elected leader, still applying the log"
	}
	if !s.members.isMember() {
		return false, fmt.Sprintf("not a member of the metadata cluster yet; add it with `cairn meta add-peer %s %s --api-addr %s`",
			s.cfg.ID, s.cfg.RaftAdvertise, s.cfg.APIAddr)
	}
	_, leader := s.raft.LeaderWithID()
	if leader == "" {
		return false, "no leader known (an election is under way, or a quorum of peers is down)"
	}
	if since := time.Since(s.raft.LastContact()); since > 2*s.cfg.HeartbeatTimeout {
		return false, fmt.Sprintf("no contact with leader %s for %v", leader, since.Round(time.Millisecond))
	}
	commit := s.raft.CommitIndex()
	if v := s.members.freshView(); v != nil {
		if !v.member {
			return false, fmt.Sprintf("leader %s does not count this peer as a member (it was removed)", leader)
		}
		commit = max(commit, v.commit)
	}
	if applied := s.st.AppliedIndex(); applied+readySlack < commit {
		return false, fmt.Sprintf("catching up: applied index %d, leader committed %d", applied, commit)
	}
	return true, "following " + string(leader)
}

// hasOtherVoter reports whether the latest Raft configuration has a voter
// besides this peer (a lone peer has nobody to hand leadership to).
func (s *Server) hasOtherVoter() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return true // let the transfer itself report what is wrong
	}
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.cfg.ID {
			return true
		}
	}
	return false
}

// BeginShutdown marks the peer as stopping: from now on ReadyStatus says
// so, and load balancers and Kubernetes stop sending it clients. It keeps
// serving until Close.
func (s *Server) BeginShutdown() { s.stopping.Store(true) }

// TransferLeadership hands leadership to the most up-to-date other voter
// when this peer leads, and waits until another peer is leader or ctx
// ends. It returns nil at once when this peer does not lead (or was never
// started), and when it is the only voter (nobody to hand over to). On
// error (the target did not win in time) this peer may still lead;
// stopping it anyway is safe: the others elect a leader after their
// election timeout.
func (s *Server) TransferLeadership(ctx context.Context) error {
	if !s.started.Load() || s.raft.State() != raft.Leader || !s.hasOtherVoter() {
		return nil
	}
	f := s.raft.LeadershipTransfer()
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil {
			return cairn.E("meta.transfer", cairn.Unavailable, fmt.Errorf("handing leadership to another peer: %w", err))
		}
	case <-ctx.Done():
		return cairn.E("meta.transfer", cairn.Unavailable, fmt.Errorf("handing leadership to another peer: %w", ctx.Err()))
	}
	for {
		if _, id := s.raft.LeaderWithID(); id != "" && string(id) != s.cfg.ID {
			s.cfg.Logger.Info("handed metadata leadership to another peer", "from", s.cfg.ID, "to", id)
			return nil
		}
		select {
		case <-ctx.Done():
			return cairn.E("meta.transfer", cairn.Unavailable, errors.New("leadership was handed over but no new leader showed up in time"))
		case <-time.After(10 * time.Millisecond):
		}
	}
}
