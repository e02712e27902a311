package inprocess

import (
	"context"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// members is the membership of a one-peer service without Raft: it
// describes just this peer, which leads, and refuses changes. It
// implements grpcapi.Members.
type members struct{ s *Server }

// AddPeer fails with Invalid: peers join Raft clusters only.
func (members) AddPeer(context.Context, *pb.AddPeerRequest) error { return needsRaft("add-peer") }

// RemovePeer fails with Invalid: there is no other peer, and the only
// one cannot leave.
func (members) RemovePeer(context.Context, string) error { return needsRaft("remove-peer") }

// self describes this peer as the only member, a voter that leads.
func (m members) self() []*pb.PeerStatus {
	return []*pb.PeerStatus{{Id: m.s.cfg.ID, ApiAddr: m.s.cfg.APIAddr, Leader: true, Voter: true}}
}

// Peers describes the membership: this peer alone, leading. Its commit
// index is its applied index (nothing is committed that is not applied).
func (m members) Peers() (*pb.PeersResponse, error) {
	applied := m.s.st.AppliedIndex()
	return &pb.PeersResponse{Peers: m.self(), LeaderId: m.s.cfg.ID, LeaderAddr: m.s.cfg.APIAddr,
		ResponderId: m.s.cfg.ID, ResponderIsLeader: true, AppliedIndex: applied, CommitIndex: applied}, nil
}

// Status describes the cluster: this peer, the data nodes and the
// healer's progress.
func (m members) Status() (*pb.ClusterStatusResponse, error) {
	applied := m.s.st.AppliedIndex()
	return &pb.ClusterStatusResponse{LeaderId: m.s.cfg.ID, LeaderAddr: m.s.cfg.APIAddr, AppliedIndex: applied, CommitIndex: applied,
		Peers: m.self(), Nodes: m.s.reg.Status(), Repair: m.s.heal.Status()}, nil
}
