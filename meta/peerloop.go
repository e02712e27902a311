package meta

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// peerPollEvery is how often a follower asks the leader about itself.
const peerPollEvery = time.Second

// loop runs on every peer. A follower (or a joining non-voter) polls
// the leader: the answer tells readiness how far the leader has committed
// and whether the leader still counts this peer as a member, and when the
// leader's PeerInfo table lacks this peer's API address the peer records
// it (so that clients can discover every member, not only past leaders).
// Failures are logged at debug level and retried at the next tick.
func (m *Members) loop() {
	defer m.s.wg.Done()
	ctx := m.s.ctx // ends at Close
	t := time.NewTicker(peerPollEvery)
	defer t.Stop()
	for {
		select {
		case <-m.s.stop:
			return
		case <-t.C:
			m.pollLeader(ctx)
		}
	}
}

func (m *Members) pollLeader(ctx context.Context) {
	if m.s.raft.State() == raft.Leader {
		m.view.Store(nil)
		return
	}
	_, leader := m.s.raft.LeaderWithID()
	if leader == "" {
		return
	}
	addr := m.peerAPI(string(leader))
	if addr == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := m.peers.peersOf(ctx, addr)
	if err != nil || !resp.ResponderIsLeader {
		if err != nil {
			m.s.cfg.Logger.Debug("polling the metadata leader", "leader", leader, "addr", addr, "err", err)
		}
		return
	}
	var self *pb.PeerStatus
	for _, p := range resp.Peers {
		if p.Id == m.s.cfg.ID {
			self = p
		}
	}
	m.view.Store(&leaderView{commit: resp.CommitIndex, member: self != nil, at: time.Now()})
	if self == nil || self.ApiAddr == m.s.cfg.APIAddr || m.s.cfg.APIAddr == "" {
		return
	}
	cc, err := m.peers.conn(addr)
	if err == nil {
		_, err = pb.NewOperatorClient(cc).AddPeer(ctx, &pb.AddPeerRequest{Id: m.s.cfg.ID, ApiAddr: m.s.cfg.APIAddr, InfoOnly: true})
	}
	if err != nil {
		m.s.cfg.Logger.Debug("recording this peer's API address with the leader", "err", rpcerr.FromStatus(err))
		return
	}
	m.s.cfg.Logger.Info("recorded this peer's API address with the leader", "id", m.s.cfg.ID, "api", m.s.cfg.APIAddr)
}

// leaderView is what a follower last heard from the leader when it polled
// it (peerLoop): the leader's commit index and whether the leader counts
// this peer as a member.
type leaderView struct {
	commit uint64
	member bool
	at     time.Time
}

// freshView returns the leader's last answer if it is recent enough to
// act on.
func (m *Members) freshView() *leaderView {
	v := m.view.Load()
	if v == nil || time.Since(v.at) > 5*time.Second {
		return nil
	}
	return v
}
