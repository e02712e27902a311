package client

import (
	"context"
	"io"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Admin is the operator's handle on a cluster: its status, the metadata
// peers and their membership, draining data nodes, fsck, and the
// credentials that gateways verify requests with. It is kept apart from
// Client so that programs that only read and write files never reach for
// these, and so that each side can later be authorized on its own.
//
// An Admin shares the connections of the Client it came from: it needs no
// Close and stops working when that Client is closed. It is safe for
// concurrent use.
type Admin struct {
	c *Client
}

// Admin returns the cluster and credential operations over c's
// connections. It is cheap; there is no need to keep the result.
func (c *Client) Admin() *Admin { return &Admin{c: c} }

// ClusterStatus is the cluster as the metadata leader sees it.
type ClusterStatus struct {
	LeaderID     string // Raft ID of the leader; empty while there is none
	LeaderAddr   string // the leader's API address
	Peers        []Peer
	Nodes        []NodeStatus
	CommitIndex  uint64
	AppliedIndex uint64
	// Repair is the leader's self-healing progress; nil when the peer
	// that answered was not (or no longer) the leader.
	Repair *RepairStatus
}

// Node returns the status of data node id, and whether the leader knows
// the node.
func (s *ClusterStatus) Node(id cairn.NodeID) (NodeStatus, bool) {
	for _, n := range s.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeStatus{}, false
}

// Peer is one metadata peer in the Raft configuration.
type Peer struct {
	ID       string
	RaftAddr string // where other peers reach it for Raft
	APIAddr  string // its gRPC API; empty until the peer has recorded it
	Leader   bool
	Voter    bool // false while a newly added peer catches up
}

// NodeStatus is one data node as the metadata leader sees it.
type NodeStatus struct {
	ID            cairn.NodeID
	Addr          string // host:port of its data port
	Zone, Rack    string
	State         cairn.NodeState
	Capacity      int64 // bytes
	Used          int64 // bytes
	Chunks        uint64
	LastHeartbeat time.Time // zero if none arrived since this leader took over
	HealthDetail  string    // why the node reports itself unhealthy, if it does
	Encrypted     bool      // the node encrypts the chunks it stores (--encryption-key-file)
	// Free is what the node can still write; Full says it keeps less than
	// its reserve free and gets no new chunks.
	Free int64
	Full bool
	// Slow says a client or node recently gave up on it for stalling a
	// transfer; placement prefers other nodes for a while.
	Slow bool
}

// RepairStatus is the leader's self-healing progress: re-replication,
// rebalancing and garbage collection. Counts other than the queues are
// since the peer became leader.
type RepairStatus struct {
	Queued          uint64 // under-replicated chunks found by the last scan
	InFlight        uint64
	Repaired        uint64
	Failed          uint64
	BytesMoved      uint64
	BytesPerSecond  float64
	ETA             time.Duration // to copy what is queued at the current rate; 0 if unknown
	LastScan        time.Time
	GarbageQueued   uint64 // chunks waiting to be deleted from data nodes
	GarbageDeleted  uint64
	RebalanceQueued uint64 // replicas not where the ring places them (last scan)
	RebalanceMoved  uint64
}

// Status returns the cluster status as the leader sees it. It fails with
// Unavailable when no leader answers within the client's RetryFor.
func (a *Admin) Status(ctx context.Context) (*ClusterStatus, error) {
	var resp *pb.ClusterStatusResponse
	err := a.c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.cluster.ClusterStatus(ctx, &pb.ClusterStatusRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newClusterStatus(resp), nil
}

// Membership is the metadata cluster's members as one peer sees them.
type Membership struct {
	Peers      []Peer
	LeaderID   string // empty if the responder knows no leader
	LeaderAddr string // the leader's API address, if known
	// Responder is the peer that answered; its view may lag the leader's
	// unless ResponderIsLeader.
	Responder         string
	ResponderIsLeader bool
	AppliedIndex      uint64 // the responder's
	CommitIndex       uint64 // the responder's
}

// Peers returns the metadata cluster's members as one peer sees them: the
// leader when it is known, else any peer that answers (its view may lag).
func (a *Admin) Peers(ctx context.Context) (*Membership, error) {
	var resp *pb.PeersResponse
	err := a.c.any(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.cluster.Peers(ctx, &pb.PeersRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Membership{Peers: newPeers(resp.Peers), LeaderID: resp.LeaderId, LeaderAddr: resp.LeaderAddr,
		Responder: resp.ResponderId, ResponderIsLeader: resp.ResponderIsLeader,
		AppliedIndex: resp.AppliedIndex, CommitIndex: resp.CommitIndex}, nil
}

// AddPeer adds a metadata peer to the Raft configuration: as a non-voter
// first, promoted to voter once it has caught up with the log (waiting for
// up to the context's deadline, at most 2 minutes). apiAddr is the peer's
// gRPC address; empty means the peer records its own once it follows. It
// is safe to repeat. On a catch-up timeout the peer stays a non-voter and
// the error says so; run AddPeer again or RemovePeer.
func (a *Admin) AddPeer(ctx context.Context, id, raftAddr, apiAddr string) error {
	return a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.ops.AddPeer(ctx, &pb.AddPeerRequest{Id: id, RaftAddr: raftAddr, ApiAddr: apiAddr})
		return err
	})
}

// RemovePeer removes a metadata peer from the Raft configuration. It is
// refused (Invalid) for the last voter and (Conflict) when the voters left
// would not have a reachable quorum. Removing the leader hands leadership
// to another peer first. A retry of a removal that succeeded reports
// NotFound.
func (a *Admin) RemovePeer(ctx context.Context, id string) error {
	return a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.ops.RemovePeer(ctx, &pb.RemovePeerRequest{Id: id})
		return err
	})
}

// DrainOptions tune Drain.
type DrainOptions struct {
	// Undo puts a draining node back in service: new chunks may be placed
	// on it again (chunks already moved away stay where they are).
	Undo bool
}

// Drain takes a data node out of placement so its chunks are copied
// elsewhere; once it holds none it can be removed with nothing
// under-replicated. Progress shows in Status and Fsck. NotFound if the
// node is not registered.
func (a *Admin) Drain(ctx context.Context, node cairn.NodeID, opts DrainOptions) error {
	return a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.ops.Drain(ctx, &pb.DrainRequest{Node: string(node), Undo: opts.Undo})
		return err
	})
}

// FsckEntry is a chunk with fewer healthy replicas than its file wants.
type FsckEntry struct {
	Chunk   cairn.ChunkID
	Path    string // the file; "" if the chunk belongs to none
	Offset  int64  // where the chunk starts in the file
	Length  int64
	Want    int // the file's replication
	Healthy int // replicas on alive nodes; 0 means the chunk is missing
	// Replicas are every node recorded as holding the chunk, each with the
	// state of that node.
	Replicas []Replica
}

// Fsck returns every under-replicated or missing chunk with its file, as
// the metadata leader sees it now (it streams them; a leader change midway
// starts the listing over).
func (a *Admin) Fsck(ctx context.Context) ([]FsckEntry, error) {
	var out []FsckEntry
	err := a.c.leader(ctx, func(ctx context.Context, m stubs) error {
		out = out[:0]
		s, err := m.ops.Fsck(ctx, &pb.FsckRequest{})
		if err != nil {
			return err
		}
		for {
			e, err := s.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, newFsckEntry(e))
		}
	})
	return out, err
}

// The conversions from the wire below are the only place these types meet
// the generated ones.

func newClusterStatus(r *pb.ClusterStatusResponse) *ClusterStatus {
	st := &ClusterStatus{LeaderID: r.LeaderId, LeaderAddr: r.LeaderAddr, Peers: newPeers(r.Peers),
		CommitIndex: r.CommitIndex, AppliedIndex: r.AppliedIndex}
	for _, n := range r.Nodes {
		ns := NodeStatus{ID: cairn.NodeID(n.Id), Addr: n.Addr, Zone: n.Zone, Rack: n.Rack, State: nodeState(n.State),
			Capacity: n.Capacity, Used: n.Used, Chunks: n.Chunks, HealthDetail: n.HealthDetail, Encrypted: n.Encrypted,
			Free: n.Free, Full: n.Full, Slow: n.Slow}
		ns.LastHeartbeat = unixNano(n.LastHeartbeatNs)
		st.Nodes = append(st.Nodes, ns)
	}
	if rp := r.Repair; rp != nil {
		st.Repair = &RepairStatus{Queued: rp.Queued, InFlight: rp.InFlight, Repaired: rp.Repaired, Failed: rp.Failed,
			BytesMoved: rp.BytesMoved, BytesPerSecond: rp.BytesPerSecond, ETA: time.Duration(rp.EtaSeconds * float64(time.Second)),
			LastScan: unixNano(rp.LastScanNs), GarbageQueued: rp.GarbageQueued, GarbageDeleted: rp.GarbageDeleted,
			RebalanceQueued: rp.RebalanceQueued, RebalanceMoved: rp.RebalanceMoved}
	}
	return st
}

func newPeers(ps []*pb.PeerStatus) []Peer {
	var out []Peer
	for _, p := range ps {
		out = append(out, Peer{ID: p.Id, RaftAddr: p.RaftAddr, APIAddr: p.ApiAddr, Leader: p.Leader, Voter: p.Voter})
	}
	return out
}

func newFsckEntry(e *pb.FsckResponse) FsckEntry {
	id, _ := cairn.ChunkIDFromBytes(e.Chunk)
	out := FsckEntry{Chunk: id, Path: e.Path, Offset: e.Offset, Length: e.Length, Want: int(e.Want), Healthy: int(e.Healthy)}
	for i, r := range e.Replicas {
		state := ""
		if i < len(e.States) {
			state = e.States[i]
		}
		out.Replicas = append(out.Replicas, newReplica(r, state))
	}
	return out
}

// nodeState reads a node state off the wire; text this client does not
// know (from a newer server) is NodeUnknown.
func nodeState(s string) cairn.NodeState {
	st, _ := cairn.ParseNodeState(s) // NodeUnknown on error
	return st
}

// unixNano is the time of a wire timestamp; 0 (unset) is the zero Time.
func unixNano(ns int64) time.Time {
	if ns <= 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
