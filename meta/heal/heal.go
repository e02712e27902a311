// Package heal keeps the data where the metadata says it is, on the
// metadata leader: repair (chunks below their replication get new copies,
// most endangered first, at a bounded rate), rebalancing (replicas move to
// where the placement ring wants them), garbage collection (released chunks
// are deleted from their nodes), upload expiry, fsck (which chunks are
// short of replicas) and reconciliation (which of a node's chunks it may
// delete).
//
// It works through small interfaces: a Proposer that replicates a command,
// a Leader that says whether to act at all, the node directory (Nodes, the
// registry), point-in-time views of the state machine (State) and a
// Transfer that copies and deletes chunks on data nodes. It imports the
// state machine's package (meta/state) for its views, never the Raft server
// (meta), gRPC or the front end. Time comes from Config.Now.
//
// Rounds never fail as a whole: what cannot be done is logged and tried
// again next round. The methods a front end calls (ReportCorrupt,
// Reconcile, Fsck) return errors with cairn kinds.
package heal

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/bwlimit"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Proposer replicates a command through the log and returns its result
// once it is applied on this peer. After an Unavailable error the command
// may or may not have applied.
type Proposer interface {
	Propose(ctx context.Context, cmd *pb.Command) (proto.Message, error)
}

// Leader reports whether this peer is the leader, caught up and ready to
// act for the cluster. Rounds stop as soon as it is not.
type Leader interface {
	IsLeader() bool
}

// Nodes is the directory of data nodes (the registry).
type Nodes interface {
	// Addr returns a node's data address and state; false if unknown.
	Addr(id cairn.NodeID) (addr string, st cairn.NodeState, known bool)
	// Pick chooses n nodes for chunk id, none of exclude; with an error it
	// may still return the nodes it found.
	Pick(id cairn.ChunkID, n int, exclude map[cairn.NodeID]bool) ([]*pb.Replica, error)
	// Stable reports whether no node is merely late or away for a restart.
	Stable() bool
}

// State gives consistent views of the state machine; the caller closes
// each view.
type State interface {
	View() *state.View
}

// Transfer moves chunks between data nodes.
type Transfer interface {
	// Copy has the node at target pull chunk id (length bytes) from the
	// node at source, verify it and store it durably.
	Copy(ctx context.Context, id cairn.ChunkID, length int64, target, source string) error
	// Delete removes chunk id from the node at addr; a chunk that is not
	// there is no error.
	Delete(ctx context.Context, addr string, id cairn.ChunkID) error
}

// Config configures the healer. Zero durations and counts take the
// defaults noted.
type Config struct {
	DefaultReplication int           // replicas of a file that names none
	RepairInterval     time.Duration // between repair scans; default 10s
	RepairConcurrency  int           // chunk copies in flight cluster-wide; default 4
	RepairBytesPerSec  int64         // cluster-wide repair bandwidth; 0 = unlimited
	GCInterval         time.Duration // between garbage collection rounds; default 10s
	GCGrace            time.Duration // a released chunk is deleted after this long
	MaxWriteAge        time.Duration // chunks younger than this may still be committed
	UploadExpiry       time.Duration // open upload sessions older than this are aborted
	Logger             *slog.Logger  // default slog.Default()
	Now                func() time.Time
}

// Deps are the healer's collaborators.
type Deps struct {
	Proposer Proposer
	Leader   Leader
	Nodes    Nodes
	State    State
	Transfer Transfer // default HTTPTransfer
}

// Healer runs the self-healing rounds and answers the questions a front
// end forwards (fsck, reconciliation, corrupt replicas). It is safe for
// concurrent use.
type Healer struct {
	cfg     Config
	d       Deps
	limiter *rate.Limiter // cluster-wide repair bandwidth
	stats   stats
	copying sync.Map // chunk ID -> struct{}: copies in flight
	kickc   chan struct{}
	corrupt corruptLog
}

// New returns a healer; Run starts its rounds.
func New(cfg Config, d Deps) *Healer {
	def := Config{RepairInterval: 10 * time.Second, RepairConcurrency: 4, GCInterval: 10 * time.Second}
	if cfg.RepairInterval <= 0 {
		cfg.RepairInterval = def.RepairInterval
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = def.GCInterval
	}
	if cfg.RepairConcurrency <= 0 {
		cfg.RepairConcurrency = def.RepairConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if d.Transfer == nil {
		d.Transfer = HTTPTransfer{Client: &http.Client{Timeout: 5 * time.Minute}}
	}
	h := &Healer{cfg: cfg, d: d, limiter: bwlimit.New(cfg.RepairBytesPerSec), kickc: make(chan struct{}, 1),
		corrupt: corruptLog{reports: map[cairn.ChunkID]corruptReport{}}}
	h.stats.reset(cfg.Now())
	return h
}

// Run runs repair and garbage collection rounds while this peer leads,
// until ctx ends.
func (h *Healer) Run(ctx context.Context) {
	repairTick := time.NewTicker(h.cfg.RepairInterval)
	defer repairTick.Stop()
	gcTick := time.NewTicker(h.cfg.GCInterval)
	defer gcTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kickc:
			if h.d.Leader.IsLeader() {
				repairer{h}.round(ctx)
			}
		case <-repairTick.C:
			// A new leader's grace period (the registry's ResetClocks)
			// keeps it from repairing nodes it has not yet heard from.
			if h.d.Leader.IsLeader() {
				repairer{h}.round(ctx)
			}
		case <-gcTick.C:
			if h.d.Leader.IsLeader() {
				collector{h}.expireUploads(ctx)
				collector{h}.round(ctx)
			}
		}
	}
}

// Kick asks for a repair round soon (after a replica was dropped or a node
// was drained).
func (h *Healer) Kick() {
	select {
	case h.kickc <- struct{}{}:
	default:
	}
}

// Reset starts the progress counters afresh (on gaining leadership).
func (h *Healer) Reset() { h.stats.reset(h.cfg.Now()) }

// Status reports progress for cluster status and metrics.
func (h *Healer) Status() *pb.RepairStatus { return h.stats.status(h.cfg.Now()) }

// ReportCorrupt drops node's replicas of chunks that it found corrupt (it
// has already deleted them); the repair rounds restore the replication. A
// chunk whose only replica is corrupt is kept (Conflict): its other
// sub-blocks are still readable. An error from proposing the change is
// returned as is; chunks before it were dropped.
func (h *Healer) ReportCorrupt(ctx context.Context, node string, chunks [][]byte) error {
	for _, raw := range chunks {
		id, err := cairn.ChunkIDFromBytes(raw)
		if err != nil {
			return err
		}
		v := h.d.State.View() // after the changes of the chunks before
		rec, ok, err := v.Chunk(id)
		v.Close()
		if err != nil || !ok || !slices.Contains(rec.Nodes, node) {
			continue // no longer referenced here: the node may drop it
		}
		if len(rec.Nodes) == 1 {
			h.cfg.Logger.Error("the only replica of a chunk is corrupt; keeping it (its other sub-blocks are still readable)", "node", node, "chunk", id)
			return cairn.E("report-corrupt", cairn.PathArg(id.String()), cairn.Conflict, errors.New("this is the only replica; keep it"))
		}
		h.cfg.Logger.Warn("data node reported a corrupt replica; dropping it and repairing", "node", node, "chunk", id)
		h.corrupt.note(id, node, h.cfg.Now())
		if _, err := h.d.Proposer.Propose(ctx, &pb.Command{Op: &pb.Command_UpdateLocations{UpdateLocations: &pb.UpdateLocations{Chunk: raw, Remove: []string{node}}}}); err != nil {
			return err
		}
	}
	h.Kick()
	return nil
}

// Reconcile answers which of node's chunks it may delete. A chunk is kept
// if the location map lists it on this node, if an open upload session
// holds it, if a repair is copying it, or if it was allocated less than
// MaxWriteAge ago (its write may still commit). Commits of older chunks are
// refused, so a chunk this answers "delete" for can never become
// referenced later. The node deletes only what two answers, GCGrace apart,
// agree on. The caller must have confirmed leadership first.
func (h *Healer) Reconcile(node string, chunks [][]byte) ([][]byte, error) {
	v := h.d.State.View()
	defer v.Close()
	inSession, err := v.SessionChunks()
	if err != nil {
		return nil, err
	}
	cutoff := h.cfg.Now().Add(-h.cfg.MaxWriteAge)
	var del [][]byte
	for _, raw := range chunks {
		id, err := cairn.ChunkIDFromBytes(raw)
		if err != nil {
			return nil, err
		}
		if _, busy := h.copying.Load(id); busy || inSession[id] {
			continue
		}
		rec, ok, err := v.Chunk(id)
		if err != nil {
			return nil, err
		}
		switch {
		case ok && slices.Contains(rec.Nodes, node):
			continue // a live replica
		case ok:
			// Committed, but not here: a surplus copy.
		default:
			released, err := v.Released(id)
			if err != nil {
				return nil, err
			}
			if !released && id.Time().After(cutoff) {
				continue // young: its write may still commit
			}
		}
		del = append(del, raw)
	}
	return del, nil
}

// Fsck calls send for every chunk with fewer healthy replicas than its
// file's replication, with the file it belongs to, until send fails (its
// error is returned). A chunk with no healthy replica is missing. Replicas
// on suspect nodes do not count as healthy.
func (h *Healer) Fsck(send func(*pb.FsckResponse) error) error {
	v := h.d.State.View()
	defer v.Close()
	var sendErr error
	err := scan(v, h.d.Nodes, h.cfg.DefaultReplication, func(c candidate) bool {
		if len(c.healthy) >= c.want {
			return true
		}
		resp := &pb.FsckResponse{Chunk: c.id[:], Length: c.rec.Length, Want: uint32(c.want), Healthy: uint32(len(c.healthy))}
		resp.Path = v.PathOf(cairn.InodeID(c.rec.Inode))
		_ = v.Chunks(cairn.InodeID(c.rec.Inode), 0, -1, func(ref *pb.ChunkRef) error {
			if string(ref.Id) == string(c.id[:]) {
				resp.Offset = ref.Offset
			}
			return nil
		})
		for _, n := range c.rec.Nodes {
			addr, st, known := h.d.Nodes.Addr(cairn.NodeID(n))
			state := st.String()
			if !known {
				state = "unknown"
			}
			resp.Replicas = append(resp.Replicas, &pb.Replica{Node: n, Addr: addr})
			resp.States = append(resp.States, state)
		}
		sendErr = send(resp)
		return sendErr == nil
	})
	if err == nil {
		err = sendErr
	}
	return err
}

// propose records a change of a chunk's replicas, giving up after 30 s.
func (h *Healer) propose(ctx context.Context, u *pb.UpdateLocations) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := h.d.Proposer.Propose(ctx, &pb.Command{Op: &pb.Command_UpdateLocations{UpdateLocations: u}})
	return err
}
