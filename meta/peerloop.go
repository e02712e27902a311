package meta

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnfs/cairn/metarpc"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// peerPollEvery is how often a follower asks the leader about itself.
const peerPollEvery = time.Second

// peerDialer keeps gRPC connections to other peers' APIs (the leader polls
// joining peers; followers poll the leader). Addresses are resolved at
// every connection attempt, so a DNS name that appears late works.
type peerDialer struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (d *peerDialer) client(addr string) (pb.MetaClient, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cc, ok := d.conns[addr]; ok {
		return pb.NewMetaClient(cc), nil
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDisableServiceConfig()) // as metarpc: no DNS TXT lookups
	if err != nil {
		return nil, err
	}
	if d.conns == nil {
		d.conns = map[string]*grpc.ClientConn{}
	}
	d.conns[addr] = cc
	return pb.NewMetaClient(cc), nil
}

// peersOf asks the peer at addr for its view of the cluster.
func (d *peerDialer) peersOf(ctx context.Context, addr string) (*pb.PeersResponse, error) {
	mc, err := d.client(addr)
	if err != nil {
		return nil, err
	}
	resp, err := mc.Peers(ctx, &pb.PeersRequest{})
	return resp, metarpc.FromStatus(err)
}

func (d *peerDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cc := range d.conns {
		cc.Close()
	}
	d.conns = nil
}

// peerLoop runs on every peer. A follower (or a joining non-voter) polls
// the leader: the answer tells readiness how far the leader has committed
// and whether the leader still counts this peer as a member, and when the
// leader's PeerInfo table lacks this peer's API address the peer records
// it (so that clients can discover every member, not only past leaders).
// Failures are logged at debug level and retried at the next tick.
func (s *Server) peerLoop() {
	defer s.wg.Done()
	ctx := s.ctx // ends at Close
	t := time.NewTicker(peerPollEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.pollLeader(ctx)
		}
	}
}

func (s *Server) pollLeader(ctx context.Context) {
	if s.raft.State() == raft.Leader {
		s.view.Store(nil)
		return
	}
	_, leader := s.raft.LeaderWithID()
	if leader == "" {
		return
	}
	addr := s.peerAPI(string(leader))
	if addr == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := s.peers.peersOf(ctx, addr)
	if err != nil || !resp.ResponderIsLeader {
		if err != nil {
			s.cfg.Logger.Debug("polling the metadata leader", "leader", leader, "addr", addr, "err", err)
		}
		return
	}
	var self *pb.PeerStatus
	for _, p := range resp.Peers {
		if p.Id == s.cfg.ID {
			self = p
		}
	}
	s.view.Store(&leaderView{commit: resp.CommitIndex, member: self != nil, at: time.Now()})
	if self == nil || self.ApiAddr == s.cfg.APIAddr || s.cfg.APIAddr == "" {
		return
	}
	mc, err := s.peers.client(addr)
	if err == nil {
		_, err = mc.AddPeer(ctx, &pb.AddPeerRequest{Id: s.cfg.ID, ApiAddr: s.cfg.APIAddr, InfoOnly: true})
	}
	if err != nil {
		s.cfg.Logger.Debug("recording this peer's API address with the leader", "err", metarpc.FromStatus(err))
		return
	}
	s.cfg.Logger.Info("recorded this peer's API address with the leader", "id", s.cfg.ID, "api", s.cfg.APIAddr)
}
