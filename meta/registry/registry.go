// Package registry is the metadata leader's directory of data nodes: the
// registered records (replicated through the state machine, handed in with
// Load) joined with heartbeats, planned departures and disk health, which
// live only in the leader's memory. From them it derives each node's state
// (alive, suspect, leaving, draining, dead) and chooses replica sets for new
// chunks with a placement.Ring built from the usable nodes.
//
// It imports the root package, the protobuf messages and meta/placement;
// never Raft, gRPC or the state machine. Time comes from Config.Now, so
// tests drive failure detection with a fake clock. Pick fails with
// Unavailable when too few nodes are usable; that error is marked
// retryable (a Retryable() bool method) when nodes that are restarting or
// late would make up the difference.
package registry

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/placement"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Config configures a registry.
type Config struct {
	SuspectAfter time.Duration    // a node with no heartbeat this long is suspect
	DeadAfter    time.Duration    // ... and dead after this long
	Now          func() time.Time // the clock; default time.Now
	// Logger notes nodes that fill up or have room again; nil logs
	// nothing.
	Logger *slog.Logger
}

// Registry is the metadata peer's view of the data nodes: the registered
// records joined with heartbeats (held only in the leader's memory; a new
// leader starts every node's clock afresh, so nobody is declared dead
// during its grace period, and counts a node suspect until it has itself
// heard from it, so a node that died around the leader change gets no new
// chunks). It is safe for concurrent use.
type Registry struct {
	suspectAfter, deadAfter time.Duration
	now                     func() time.Time
	log                     *slog.Logger

	mu    sync.Mutex
	nodes map[cairn.NodeID]*nodeEntry
	ring  *placement.Ring // built lazily from alive nodes; nil = stale
	live  []cairn.NodeID  // the nodes the ring was built from
}

type nodeEntry struct {
	rec      *pb.NodeRecord
	lastBeat time.Time
	// hb is the last heartbeat this peer received as leader; nil until
	// the node beats after this peer took over.
	hb *pb.HeartbeatRequest
	// leaving is set by a planned stop (Leave) and cleared by the node's
	// next heartbeat. Like heartbeats it lives only in the leader's memory.
	leaving bool
	// slowUntil is when the node stops counting as slow (ReportSlow);
	// slowReason is the last report's.
	slowUntil  time.Time
	slowReason string
}

// New returns an empty registry.
func New(cfg Config) *Registry {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{suspectAfter: cfg.SuspectAfter, deadAfter: cfg.DeadAfter, now: now, log: log, nodes: map[cairn.NodeID]*nodeEntry{}}
}

// Load replaces the registered records with recs (every registered node,
// as the state machine holds them). Nodes it knew keep their heartbeat
// clocks; new ones start theirs now; missing ones are forgotten.
func (r *Registry) Load(recs []*pb.NodeRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[cairn.NodeID]bool{}
	for _, rec := range recs {
		id := cairn.NodeID(rec.Id)
		seen[id] = true
		if e, ok := r.nodes[id]; ok {
			e.rec = rec
		} else {
			r.nodes[id] = &nodeEntry{rec: rec, lastBeat: r.now()}
		}
	}
	for id := range r.nodes {
		if !seen[id] {
			delete(r.nodes, id)
		}
	}
	r.ring = nil
}

// ResetClocks gives every node a fresh grace period (on gaining
// leadership) and forgets their heartbeats: until a node beats again it is
// suspect, kept out of placement, though not yet dead.
func (r *Registry) ResetClocks() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.nodes {
		e.lastBeat, e.hb = r.now(), nil
	}
	r.ring = nil
}

// Heartbeat records a heartbeat. It reports false if the node is unknown
// (it must register first) or its registered address changed.
func (r *Registry) Heartbeat(hb *pb.HeartbeatRequest) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.nodes[cairn.NodeID(hb.Id)]
	if !ok || e.rec.Addr != hb.Addr {
		return false
	}
	wasAlive := r.stateLocked(e) == cairn.NodeAlive
	if !wasAlive || e.hb == nil || e.hb.Capacity != hb.Capacity || e.hb.Healthy != hb.Healthy || e.hb.Full != hb.Full {
		r.ring = nil
	}
	if wasFull := e.hb != nil && e.hb.Full; wasFull != hb.Full {
		if hb.Full {
			r.log.Warn("data node is full: no new chunks go there until it has room", "node", hb.Id, "detail", hb.HealthDetail)
		} else if e.hb != nil {
			r.log.Info("data node has room again", "node", hb.Id, "free", hb.Free)
		}
	}
	e.lastBeat, e.hb, e.leaving = r.now(), hb, false
	return true
}

// SlowFor is how long a node counts as slow after a report that it
// stalled a transfer: placement prefers other nodes meanwhile.
const SlowFor = 30 * time.Second

// ReportSlow notes that a client or a data node gave up on node id for
// making no progress (reason says what it saw). For SlowFor the node is
// slow: new chunks go elsewhere when other nodes can take them (a slow
// node still counts, so a report can never make writes fail). It reports
// false if the node is unknown.
func (r *Registry) ReportSlow(id cairn.NodeID, reason string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.nodes[id]
	if !ok {
		return false
	}
	if !r.now().Before(e.slowUntil) {
		r.log.Warn("data node reported slow: placement prefers other nodes for a while", "node", id, "for", SlowFor, "reason", reason)
	}
	e.slowUntil, e.slowReason = r.now().Add(SlowFor), reason
	return true
}

func (r *Registry) slowLocked(e *nodeEntry) bool { return r.now().Before(e.slowUntil) }

// Leave marks a node as stopping on purpose: it leaves placement at once,
// its replicas are read last, and repair leaves its chunks alone until it
// has been silent for the dead timeout. Its next heartbeat undoes this. It
// reports false if the node is unknown.
func (r *Registry) Leave(id cairn.NodeID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.nodes[id]
	if !ok {
		return false
	}
	// The Leave call is itself a sign of life: the dead timeout counts
	// from here, so a node that takes a while to finish its requests
	// after saying it leaves is not declared dead any sooner.
	e.leaving, e.lastBeat = true, r.now()
	r.ring = nil
	return true
}

func (r *Registry) stateLocked(e *nodeEntry) cairn.NodeState {
	age := r.now().Sub(e.lastBeat)
	switch {
	case age > r.deadAfter:
		return cairn.NodeDead
	case e.leaving:
		return cairn.NodeLeaving
	case age > r.suspectAfter, e.hb == nil:
		// Late, or not heard from since this peer took over.
		return cairn.NodeSuspect
	case !e.hb.Healthy:
		return cairn.NodeSuspect
	case e.rec.Draining:
		return cairn.NodeDraining
	}
	return cairn.NodeAlive
}

// Pick chooses replication nodes for a new chunk among alive nodes.
func (r *Registry) Pick(id cairn.ChunkID, n int, exclude map[cairn.NodeID]bool) ([]*pb.Replica, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ring := r.ringLocked()
	// Prefer nodes whose heartbeats are on time; fall back to ones that are
	// merely late (a loaded node is better than failing the write).
	ids, err := ring.Pick(id, n, func(nid cairn.NodeID) bool {
		e := r.nodes[nid]
		return exclude[nid] || r.stateLocked(e) != cairn.NodeAlive || r.slowLocked(e)
	})
	if err != nil {
		// Alive nodes, slow ones included.
		ids, err = ring.Pick(id, n, func(nid cairn.NodeID) bool {
			return exclude[nid] || r.stateLocked(r.nodes[nid]) != cairn.NodeAlive
		})
	}
	if err != nil {
		// Full nodes are not in the ring (ringLocked).
		ids, err = ring.Pick(id, n, func(nid cairn.NodeID) bool { return exclude[nid] || r.nodes[nid].hb == nil })
	}
	out := make([]*pb.Replica, len(ids))
	for i, nid := range ids {
		out[i] = &pb.Replica{Node: string(nid), Addr: r.nodes[nid].rec.Addr}
	}
	if err != nil {
		// The partial answer is returned too: a repair can use it.
		err = cairn.E("allocate", cairn.Unavailable, fmt.Errorf("%d more replicas need %d live data nodes, %d are usable (%d registered, %d excluded): %w",
			n, n, len(ids), len(r.nodes), len(exclude), err))
		if len(ids)+r.returningLocked(exclude) >= n {
			// Nodes that are restarting or late would make up the
			// difference: worth asking again shortly.
			err = transient{err}
		}
		return out, err
	}
	return out, nil
}

// returningLocked counts the nodes, not excluded, that are leaving (a
// planned restart) or late with their heartbeats but not yet dead.
func (r *Registry) returningLocked(exclude map[cairn.NodeID]bool) int {
	k := 0
	for id, e := range r.nodes {
		if st := r.stateLocked(e); !exclude[id] && !e.rec.Draining && (st == cairn.NodeLeaving || st == cairn.NodeSuspect) {
			k++
		}
	}
	return k
}

// ringLocked rebuilds the ring when the set of alive nodes changed.
func (r *Registry) ringLocked() *placement.Ring {
	// The ring holds alive and late nodes; pick filters by state. Dead
	// nodes and nodes that report a failing disk are left out.
	var live []cairn.NodeID
	for id, e := range r.nodes {
		if e.hb != nil && e.hb.Full {
			continue // no room for new chunks
		}
		if st := r.stateLocked(e); st == cairn.NodeAlive || (st == cairn.NodeSuspect && (e.hb == nil || e.hb.Healthy) && !e.rec.Draining) {
			live = append(live, id)
		}
	}
	slices.Sort(live)
	if r.ring != nil && slices.Equal(live, r.live) {
		return r.ring
	}
	nodes := make([]placement.Node, 0, len(live))
	for _, id := range live {
		e := r.nodes[id]
		w := float64(e.rec.Capacity)
		if e.hb != nil && e.hb.Capacity > 0 {
			w = float64(e.hb.Capacity)
			if usable := e.hb.Used + e.hb.Free; e.hb.Free > 0 && float64(usable) < w {
				// What the disk really holds, when less than configured.
				w = float64(usable)
			}
		}
		if w <= 0 {
			w = 1
		}
		nodes = append(nodes, placement.Node{ID: id, Weight: w, Zone: e.rec.Zone, Rack: e.rec.Rack})
	}
	r.ring, r.live = placement.New(nodes, placement.Options{}), live
	return r.ring
}

// Stable reports whether no node is merely late or away for a restart:
// rebalancing waits while a node may be about to die or come back (dead nodes are out of the ring and
// their chunks are repair's job, which runs first).
func (r *Registry) Stable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.nodes {
		if st := r.stateLocked(e); st == cairn.NodeSuspect || st == cairn.NodeLeaving {
			return false
		}
	}
	return len(r.nodes) > 0
}

// Addr returns a node's data address and state.
func (r *Registry) Addr(id cairn.NodeID) (string, cairn.NodeState, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.nodes[id]
	if !ok {
		return "", cairn.NodeDead, false
	}
	return e.rec.Addr, r.stateLocked(e), true
}

// Status lists every node for ClusterStatus, sorted by ID.
func (r *Registry) Status() []*pb.NodeStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*pb.NodeStatus, 0, len(r.nodes))
	for id, e := range r.nodes {
		ns := &pb.NodeStatus{Id: string(id), Addr: e.rec.Addr, Zone: e.rec.Zone, Rack: e.rec.Rack,
			State: r.stateLocked(e).String(), Capacity: e.rec.Capacity, LastHeartbeatNs: e.lastBeat.UnixNano()}
		if e.hb != nil {
			ns.Capacity, ns.Used, ns.Chunks, ns.HealthDetail = e.hb.Capacity, e.hb.Used, e.hb.Chunks, e.hb.HealthDetail
			ns.Encrypted = e.hb.Encrypted
			ns.Free, ns.Full = e.hb.Free, e.hb.Full
		} else {
			ns.HealthDetail = "no heartbeat since this metadata peer became the leader"
		}
		if r.slowLocked(e) {
			ns.Slow = true
			if ns.HealthDetail == "" {
				ns.HealthDetail = "slow: " + e.slowReason
			}
		}
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b *pb.NodeStatus) int {
		if a.Id < b.Id {
			return -1
		}
		if a.Id > b.Id {
			return 1
		}
		return 0
	})
	return out
}

// transient marks Pick's error as worth retrying shortly. rpcerr.IsRetryable
// recognises the Retryable method, so the mark travels to the client
// without this package importing the wire codec.
type transient struct{ error }

func (t transient) Unwrap() error { return t.error }

// Retryable reports true: nodes that are coming back may make up the
// shortfall.
func (transient) Retryable() bool { return true }
