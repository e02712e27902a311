package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// Membership changes run on the leader, one at a time. A new peer is added
// as a non-voter, so that it copies the log without counting towards the
// quorum, and is promoted to voter once it has caught up; a removal first
// checks that the voters left can still form a quorum. The PeerInfo table
// (API addresses for clients and leader hints) follows the Raft
// configuration: AddPeer records the new peer's address, RemovePeer
// deletes it, and every member records its own (peerLoop).

// Members changes and describes the Raft configuration of the metadata
// peers. Its errors are NotLeader (with a hint) on a follower, Invalid or
// Conflict for a request that does not fit the configuration, and
// Unavailable when Raft did not confirm the change in time.
type Members struct {
	s     *Server
	mu    sync.Mutex                 // one membership change at a time
	peers peerDialer                 // gRPC connections to other peers
	view  atomic.Pointer[leaderView] // the leader's last answer to this follower's poll
}

// catchUpTimeout bounds how long AddPeer waits for a new peer to catch up
// when the caller's context sets no deadline.
const catchUpTimeout = 2 * time.Minute

// configuration returns the latest Raft configuration.
func (m *Members) configuration() ([]raft.Server, error) {
	f := m.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, cairn.E("meta.config", cairn.Unavailable, err)
	}
	return f.Configuration().Servers, nil
}

func findServer(servers []raft.Server, id string) *raft.Server {
	for i := range servers {
		if string(servers[i].ID) == id {
			return &servers[i]
		}
	}
	return nil
}

func memberList(servers []raft.Server) string {
	var ids []string
	for _, srv := range servers {
		ids = append(ids, string(srv.ID))
	}
	return strings.Join(ids, ", ")
}

// waitFuture waits for a Raft configuration change, translating Raft's
// errors into kinds.
func (m *Members) waitFuture(ctx context.Context, op string, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		switch {
		case err == nil:
			return nil
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return m.s.prop.notLeader()
		}
		return cairn.E(op, cairn.Unavailable, err)
	case <-ctx.Done():
		return cairn.E(op, cairn.Unavailable, fmt.Errorf("gave up waiting for the configuration change; check `cairn cluster status`: %w", ctx.Err()))
	}
}

// AddPeer adds a metadata peer (see the AddPeer RPC). It is safe to repeat:
// a peer that is already a voter at the same address only gets its API
// address recorded, and a peer left as a non-voter by an earlier attempt
// is caught up and promoted.
func (m *Members) AddPeer(ctx context.Context, req *pb.AddPeerRequest) error {
	const op = "add-peer"
	if req.Id == "" {
		return cairn.E(op, cairn.Invalid, errors.New("the new peer's ID is required"))
	}
	if err := m.s.prop.RequireLeader(); err != nil {
		return err
	}
	servers, err := m.configuration()
	if err != nil {
		return err
	}
	cur := findServer(servers, req.Id)
	if req.InfoOnly {
		if cur == nil {
			return cairn.E(op, cairn.PathArg(req.Id), cairn.NotFound, fmt.Errorf("not a member (members: %s)", memberList(servers)))
		}
		return m.recordPeer(ctx, req.Id, req.ApiAddr)
	}
	if err := m.checkNewPeer(servers, cur, req); err != nil {
		return err
	}
	if cur != nil && cur.Suffrage == raft.Voter {
		return m.recordPeer(ctx, req.Id, req.ApiAddr)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur == nil {
		f := m.s.raft.AddNonvoter(raft.ServerID(req.Id), raft.ServerAddress(req.RaftAddr), 0, 10*time.Second)
		if err := m.waitFuture(ctx, op, f); err != nil {
			return err
		}
		m.s.cfg.Logger.Info("added metadata peer as a non-voter; waiting for it to catch up", "id", req.Id, "raft", req.RaftAddr)
	}
	if err := m.recordPeer(ctx, req.Id, req.ApiAddr); err != nil {
		return err
	}
	if err := m.waitCaughtUp(ctx, req.Id, req.ApiAddr); err != nil {
		return err
	}
	f := m.s.raft.AddVoter(raft.ServerID(req.Id), raft.ServerAddress(req.RaftAddr), 0, 10*time.Second)
	if err := m.waitFuture(ctx, op, f); err != nil {
		return err
	}
	m.s.cfg.Logger.Info("metadata peer is a voter now", "id", req.Id, "raft", req.RaftAddr)
	return nil
}

// checkNewPeer validates an AddPeer request against the configuration.
func (m *Members) checkNewPeer(servers []raft.Server, cur *raft.Server, req *pb.AddPeerRequest) error {
	const op = "add-peer"
	if err := checkHostPort("Raft address", req.RaftAddr); err != nil {
		return err
	}
	if req.ApiAddr != "" {
		if err := checkHostPort("API address", req.ApiAddr); err != nil {
			return err
		}
	}
	if cur != nil && string(cur.Address) != req.RaftAddr {
		return cairn.E(op, cairn.PathArg(req.Id), cairn.Conflict, fmt.Errorf("already a member at %s; to change its address remove it first (cairn meta remove-peer %s)", cur.Address, req.Id))
	}
	for _, srv := range servers {
		if string(srv.ID) != req.Id && string(srv.Address) == req.RaftAddr {
			return cairn.E(op, cairn.PathArg(req.Id), cairn.Conflict, fmt.Errorf("Raft address %s already belongs to peer %s", req.RaftAddr, srv.ID))
		}
	}
	return nil
}

// waitCaughtUp polls the new peer until its state machine is within
// readySlack entries of the leader's commit index. The peer's API address
// is the one given, or the one it recorded itself once it followed.
func (m *Members) waitCaughtUp(ctx context.Context, id, api string) error {
	limit := time.Now().Add(catchUpTimeout)
	if dl, ok := ctx.Deadline(); ok {
		limit = dl.Add(-time.Second) // answer before the caller gives up
	}
	status := "it has not answered yet"
	for {
		addr := api
		if addr == "" {
			addr = m.peerAPI(id)
		}
		if addr != "" {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			resp, err := m.peers.peersOf(pctx, addr)
			cancel()
			switch {
			case err != nil:
				status = fmt.Sprintf("its API at %s does not answer: %v", addr, err)
			case resp.ResponderId != id:
				status = fmt.Sprintf("the peer at %s says it is %q", addr, resp.ResponderId)
			case resp.AppliedIndex+readySlack >= m.s.raft.CommitIndex():
				return nil
			default:
				status = fmt.Sprintf("it has applied %d of %d entries", resp.AppliedIndex, m.s.raft.CommitIndex())
			}
		}
		if !m.s.IsLeader() {
			return m.s.prop.notLeader()
		}
		if time.Now().After(limit) {
			return cairn.E("add-peer", cairn.PathArg(id), cairn.Unavailable, fmt.Errorf(
				"added as a non-voter, but it has not caught up in time (%s); check that it runs and reaches the other peers, then run add-peer again to promote it, or remove-peer to undo", status))
		}
		select {
		case <-ctx.Done():
			return cairn.E("add-peer", cairn.PathArg(id), cairn.Canceled, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RemovePeer removes a metadata peer (see the RemovePeer RPC).
func (m *Members) RemovePeer(ctx context.Context, id string) error {
	const op = "remove-peer"
	if id == "" {
		return cairn.E(op, cairn.Invalid, errors.New("the peer's ID is required"))
	}
	if err := m.s.prop.RequireLeader(); err != nil {
		return err
	}
	servers, err := m.configuration()
	if err != nil {
		return err
	}
	cur := findServer(servers, id)
	if cur == nil {
		return cairn.E(op, cairn.PathArg(id), cairn.NotFound, fmt.Errorf("no such metadata peer (members: %s)", memberList(servers)))
	}
	if cur.Suffrage == raft.Voter {
		if err := m.checkQuorumWithout(servers, id); err != nil {
			return err
		}
	}
	if id == m.s.cfg.ID {
		tctx, cancel := context.WithTimeout(ctx, 5*m.s.cfg.ElectionTimeout+time.Second)
		defer cancel()
		if err := m.s.TransferLeadership(tctx); err != nil {
			return rpcerr.Retryable(cairn.E(op, cairn.PathArg(id), cairn.Unavailable, fmt.Errorf("this peer leads and must hand over leadership before it is removed: %w", err)))
		}
		return m.s.prop.notLeader() // the caller retries at the new leader
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.waitFuture(ctx, op, m.s.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second)); err != nil {
		return err
	}
	m.s.cfg.Logger.Info("removed metadata peer", "id", id)
	_, err = m.s.prop.Propose(ctx, &pb.Command{Op: &pb.Command_PeerInfo{PeerInfo: &pb.PeerInfo{Id: id, Removed: true}}})
	return err
}

// checkQuorumWithout refuses a removal that would leave no voter, or fewer
// reachable voters than a quorum of those left.
func (m *Members) checkQuorumWithout(servers []raft.Server, id string) error {
	var left []raft.Server
	for _, srv := range servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != id {
			left = append(left, srv)
		}
	}
	if len(left) == 0 {
		return cairn.E("remove-peer", cairn.PathArg(id), cairn.Invalid, errors.New("refusing to remove the last voting metadata peer: the cluster would have no members"))
	}
	up := m.reachable(left)
	if need := len(left)/2 + 1; len(up) < need {
		return cairn.E("remove-peer", cairn.PathArg(id), cairn.Conflict, fmt.Errorf(
			"refusing: of the %d voters that would be left only %d answer (%s) and a quorum needs %d; bring the others back first, or remove a peer that is down",
			len(left), len(up), strings.Join(up, ", "), need))
	}
	return nil
}

// reachable returns the IDs of the servers this peer can open a Raft
// connection to (itself included), probing them in parallel.
func (m *Members) reachable(servers []raft.Server) []string {
	var mu sync.Mutex
	var up []string
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if string(srv.ID) != m.s.cfg.ID {
				conn, err := m.s.cfg.RaftDial(string(srv.Address), time.Second)
				if err != nil {
					return
				}
				conn.Close()
			}
			mu.Lock()
			up = append(up, string(srv.ID))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(up)
	return up
}

// recordPeer stores a member's API address in the PeerInfo table, unless
// it is empty or already recorded.
func (m *Members) recordPeer(ctx context.Context, id, api string) error {
	if api == "" || m.peerAPI(id) == api {
		return nil
	}
	if err := checkHostPort("API address", api); err != nil {
		return err
	}
	_, err := m.s.prop.Propose(ctx, &pb.Command{Op: &pb.Command_PeerInfo{PeerInfo: &pb.PeerInfo{Id: id, ApiAddr: api}}})
	return err
}

// peerAPI returns a peer's recorded API address ("" if none).
func (m *Members) peerAPI(id string) string {
	return m.s.st.Latest().PeerAPI(id)
}

// peerStatuses describes the members of servers with their API addresses.
func (m *Members) peerStatuses(servers []raft.Server, leader raft.ServerID) []*pb.PeerStatus {
	var out []*pb.PeerStatus
	for _, srv := range servers {
		ps := &pb.PeerStatus{Id: string(srv.ID), RaftAddr: string(srv.Address), Leader: srv.ID == leader, Voter: srv.Suffrage == raft.Voter}
		ps.ApiAddr = m.peerAPI(ps.Id)
		if ps.ApiAddr == "" && ps.Id == m.s.cfg.ID {
			ps.ApiAddr = m.s.cfg.APIAddr
		}
		out = append(out, ps)
	}
	return out
}

// Peers describes the cluster's members as this peer sees them.
func (m *Members) Peers() (*pb.PeersResponse, error) {
	servers, err := m.configuration()
	if err != nil {
		return nil, err
	}
	_, leader := m.s.raft.LeaderWithID()
	resp := &pb.PeersResponse{LeaderId: string(leader), ResponderId: m.s.cfg.ID, ResponderIsLeader: m.s.IsLeader(),
		AppliedIndex: m.s.st.AppliedIndex(), CommitIndex: m.s.raft.CommitIndex()}
	resp.Peers = m.peerStatuses(servers, leader)
	for _, p := range resp.Peers {
		if p.Leader {
			resp.LeaderAddr = p.ApiAddr
		}
	}
	return resp, nil
}

// Status describes the cluster as this peer sees it: the members, and on
// the leader the data nodes and the healer's progress.
func (m *Members) Status() (*pb.ClusterStatusResponse, error) {
	_, id := m.s.raft.LeaderWithID()
	resp := &pb.ClusterStatusResponse{LeaderId: string(id), AppliedIndex: m.s.st.AppliedIndex(), CommitIndex: m.s.raft.CommitIndex()}
	f := m.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, cairn.E("status", cairn.Unavailable, err)
	}
	resp.Peers = m.peerStatuses(f.Configuration().Servers, id)
	for _, ps := range resp.Peers {
		if ps.Leader {
			resp.LeaderAddr = ps.ApiAddr
		}
	}
	if m.s.IsLeader() {
		resp.Nodes = m.s.reg.Status()
		resp.Repair = m.s.heal.Status()
	}
	return resp, nil
}

// isMember reports whether this peer is in its own latest Raft
// configuration (a joining peer is not until the leader adds it).
func (m *Members) isMember() bool {
	f := m.s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == m.s.cfg.ID {
			return true
		}
	}
	return false
}
