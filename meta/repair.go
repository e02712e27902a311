package meta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/internal/bwlimit"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// The repairer runs on the leader. Each round it scans the location map for
// chunks with fewer healthy replicas than their file's replication, orders
// them most-endangered first, and has new replicas pull a copy from a
// healthy one (the copy is verified and fsynced by the target) before the
// location map changes through Raft. A replica on a dead node is dropped
// from the map once the chunk is whole again elsewhere.
type repairer struct {
	s       *Server
	http    *http.Client
	limiter *rate.Limiter // cluster-wide repair bandwidth

	queued, inFlight, repaired, failed, bytesMoved atomic.Uint64
	garbageQueued, garbageDeleted                  atomic.Uint64
	rebalanceQueued, rebalanceMoved                atomic.Uint64
	lastScan                                       atomic.Int64
	copying                                        sync.Map     // chunk ID -> struct{}: copies in flight
	startedAt                                      atomic.Int64 // unix ns
	kickc                                          chan struct{}

	mu      sync.Mutex
	corrupt map[cairn.ChunkID]corruptReport // recent reports: avoid the node when re-placing
}

type corruptReport struct {
	node string
	at   time.Time
}

// noteCorrupt remembers that node held a corrupt copy of id, so the repair
// places the new copy elsewhere when it can (the disk may be failing).
func (r *repairer) noteCorrupt(id cairn.ChunkID, node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for k, v := range r.corrupt {
		if now.Sub(v.at) > 10*time.Minute {
			delete(r.corrupt, k)
		}
	}
	r.corrupt[id] = corruptReport{node, now}
}

func (r *repairer) avoid(id cairn.ChunkID) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.corrupt[id]
	return c.node, ok
}

// kick asks for a repair round soon (after a corrupt replica was dropped).
func (r *repairer) kick() {
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

func newRepairer(s *Server) *repairer {
	lim := bwlimit.New(s.cfg.RepairBytesPerSec)
	r := &repairer{s: s, limiter: lim, http: &http.Client{Timeout: 5 * time.Minute}, kickc: make(chan struct{}, 1),
		corrupt: map[cairn.ChunkID]corruptReport{}}
	r.startedAt.Store(time.Now().UnixNano())
	return r
}

// candidate is a chunk that needs attention.
type candidate struct {
	id       cairn.ChunkID
	rec      *pb.ChunkRecord
	want     int
	healthy  []string // replicas on alive nodes
	suspect  []string // replicas on nodes that are late with heartbeats
	draining []string // replicas on draining nodes: sources, but they do not count
	dead     []string // replicas on dead or unknown nodes
}

// sources are the replicas a copy may be pulled from.
func (c candidate) sources() []string {
	return append(append([]string(nil), c.healthy...), c.draining...)
}

// needsCopy says whether the repairer must act: replicas on suspect nodes
// are given until the node is declared dead.
func (c candidate) needsCopy() bool { return len(c.healthy)+len(c.suspect) < c.want }

// scan walks the location map and returns the chunks below their
// replication (most endangered first) and the chunks that are whole but
// still list dead replicas.
func (r *repairer) scan(snap reader, fn func(c candidate) bool) error {
	return r.eachChunk(snap, func(id cairn.ChunkID, rec *pb.ChunkRecord, want int) bool {
		c := candidate{id: id, rec: rec, want: want}
		for _, n := range rec.Nodes {
			_, st, known := r.s.reg.addr(cairn.NodeID(n))
			switch {
			case known && st == cairn.NodeAlive:
				c.healthy = append(c.healthy, n)
			case !known || st == cairn.NodeDead:
				c.dead = append(c.dead, n)
			case st == cairn.NodeDraining:
				c.draining = append(c.draining, n)
			default:
				c.suspect = append(c.suspect, n)
			}
		}
		if len(c.healthy) < c.want || len(c.dead) > 0 || len(c.draining) > 0 {
			return fn(c)
		}
		return true
	})
}

// eachChunk calls fn for every committed chunk with its location record and
// its file's replication, until fn returns false.
func (r *repairer) eachChunk(snap reader, fn func(id cairn.ChunkID, rec *pb.ChunkRecord, want int) bool) error {
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: []byte{tagLoc}, UpperBound: []byte{tagLoc + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	wantOf := map[uint64]int{}
	for it.First(); it.Valid(); it.Next() {
		rec := &pb.ChunkRecord{}
		if err := proto.Unmarshal(it.Value(), rec); err != nil {
			return cairn.E("repair.scan", cairn.Internal, err)
		}
		id, _ := cairn.ChunkIDFromBytes(it.Key()[1:])
		if !fn(id, rec, r.wantOf(snap, wantOf, rec.Inode)) {
			break
		}
	}
	return it.Error()
}

// wantOf returns the replication of inode's file, caching per scan.
func (r *repairer) wantOf(snap reader, cache map[uint64]int, ino uint64) int {
	want, ok := cache[ino]
	if !ok {
		want = r.s.cfg.DefaultReplication
		if a, err := getAttr(snap, cairn.InodeID(ino)); err == nil && a.Replication > 0 {
			want = int(a.Replication)
		}
		cache[ino] = want
	}
	return want
}

// round runs one repair round: scan, then repair at most maxTasks chunks,
// RepairConcurrency at a time.
func (r *repairer) round(ctx context.Context) {
	snap := r.s.fsm.db.NewSnapshot()
	var todo, cleanup []candidate
	err := r.scan(snap, func(c candidate) bool {
		switch {
		case c.needsCopy():
			todo = append(todo, c)
		case len(c.dead) > 0 && len(c.healthy)+len(c.suspect) >= c.want,
			len(c.draining) > 0 && len(c.healthy) >= c.want:
			cleanup = append(cleanup, c)
		}
		return len(todo) < 100000
	})
	snap.Close()
	if err != nil {
		r.s.cfg.Logger.Error("repair scan failed", "err", err)
		return
	}
	r.lastScan.Store(time.Now().UnixNano())
	r.queued.Store(uint64(len(todo)))
	// Most endangered first: one healthy replica before two.
	slices.SortStableFunc(todo, func(a, b candidate) int { return len(a.healthy) - len(b.healthy) })
	for _, c := range cleanup {
		remove := c.dead
		if len(c.healthy) >= c.want {
			remove = append(remove, c.draining...)
		}
		if err := r.propose(ctx, &pb.UpdateLocations{Chunk: c.id[:], Remove: remove}); err != nil {
			r.s.cfg.Logger.Warn("dropping dead replicas from the location map failed; retrying next round", "chunk", c.id, "err", err)
			break
		}
	}
	sem := make(chan struct{}, max(1, r.s.cfg.RepairConcurrency))
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	for _, c := range todo {
		if ctx.Err() != nil || !r.s.IsLeader() {
			break
		}
		if len(c.sources()) == 0 {
			continue // nothing to copy from: fsck reports it as missing
		}
		sem <- struct{}{}
		wg.Add(1)
		r.inFlight.Add(1)
		go func() {
			defer func() { <-sem; wg.Done(); r.inFlight.Add(^uint64(0)) }()
			if err := r.repair(ctx, c); err != nil {
				r.failed.Add(1)
				if failures.Add(1) == 1 {
					firstErr.Store(err)
				}
				return
			}
			r.repaired.Add(1)
			if q := r.queued.Load(); q > 0 {
				r.queued.Add(^uint64(0))
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		r.s.cfg.Logger.Warn("some chunks could not be repaired this round; retrying next round", "failed", n, "first_error", firstErr.Load())
	}
	if len(todo) == 0 && ctx.Err() == nil {
		r.rebalance(ctx)
	}
}

// repair copies chunk c onto enough new nodes to restore its replication.
func (r *repairer) repair(ctx context.Context, c candidate) error {
	need := c.want - len(c.healthy) - len(c.suspect)
	exclude := map[cairn.NodeID]bool{}
	for _, n := range c.rec.Nodes {
		exclude[cairn.NodeID(n)] = true
	}
	var targets []*pb.Replica
	var err error
	if bad, ok := r.avoid(c.id); ok {
		exclude[cairn.NodeID(bad)] = true
		targets, err = r.s.reg.pick(c.id, need, exclude)
		delete(exclude, cairn.NodeID(bad))
	}
	if len(targets) < need {
		// No other node: a fresh, verified copy on the same node beats none.
		targets, err = r.s.reg.pick(c.id, need, exclude)
	}
	if err != nil && len(targets) == 0 {
		return err
	}
	if err := bwlimit.Wait(ctx, r.limiter, c.rec.Length*int64(len(targets))); err != nil {
		return err
	}
	r.copying.Store(c.id, struct{}{})
	defer r.copying.Delete(c.id)
	var added []string
	sources := c.sources()
	for i, t := range targets {
		src := sources[i%len(sources)]
		srcAddr, _, _ := r.s.reg.addr(cairn.NodeID(src))
		if err := r.copy(ctx, c, t.Addr, srcAddr); err != nil {
			r.s.cfg.Logger.Warn("repair copy failed", "chunk", c.id, "target", t.Node, "source", src, "err", err)
			continue
		}
		added = append(added, t.Node)
		r.bytesMoved.Add(uint64(c.rec.Length))
	}
	if len(added) == 0 {
		return cairn.E("repair", cairn.Unavailable, fmt.Errorf("no target could copy chunk %s", c.id))
	}
	remove := c.dead
	if len(c.healthy)+len(added) >= c.want {
		remove = append(remove, c.draining...)
	}
	if len(c.healthy)+len(c.suspect)+len(added) < c.want {
		remove = nil // keep the old replicas listed until the chunk is whole
	}
	return r.propose(ctx, &pb.UpdateLocations{Chunk: c.id[:], Add: added, Remove: remove})
}

// ReplicateRequest is the JSON body of POST /v1/chunks/{id}/replicate on a
// data node: pull the chunk from Source, verify and store it.
type ReplicateRequest struct {
	Source string `json:"source"`
	Length int64  `json:"length"`
}

func (r *repairer) copy(ctx context.Context, c candidate, target, source string) error {
	body, _ := json.Marshal(ReplicateRequest{Source: source, Length: c.rec.Length})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+target+"/v1/chunks/"+c.id.String()+"/replicate", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.http.Do(req)
	if err != nil {
		return cairn.E("repair.copy", cairn.Unavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return cairnhttp.ReadError(resp)
	}
	return nil
}

func (r *repairer) propose(ctx context.Context, u *pb.UpdateLocations) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := r.s.propose(ctx, &pb.Command{Op: &pb.Command_UpdateLocations{UpdateLocations: u}})
	return err
}

// status reports progress for ClusterStatus and metrics.
func (r *repairer) status() *pb.RepairStatus {
	st := &pb.RepairStatus{Queued: r.queued.Load(), InFlight: r.inFlight.Load(), Repaired: r.repaired.Load(),
		Failed: r.failed.Load(), BytesMoved: r.bytesMoved.Load(), LastScanNs: r.lastScan.Load(),
		GarbageQueued: r.garbageQueued.Load(), GarbageDeleted: r.garbageDeleted.Load(),
		RebalanceQueued: r.rebalanceQueued.Load(), RebalanceMoved: r.rebalanceMoved.Load()}
	if secs := time.Since(time.Unix(0, r.startedAt.Load())).Seconds(); secs > 0 {
		st.BytesPerSecond = float64(st.BytesMoved) / secs
	}
	if st.Repaired > 0 && st.BytesPerSecond > 0 {
		avg := float64(st.BytesMoved) / float64(st.Repaired)
		st.EtaSeconds = float64(st.Queued) * avg / st.BytesPerSecond
	}
	return st
}

// reset starts the counters afresh (on gaining leadership).
func (r *repairer) reset() {
	for _, c := range []*atomic.Uint64{&r.queued, &r.repaired, &r.failed, &r.bytesMoved, &r.garbageQueued, &r.garbageDeleted, &r.rebalanceQueued, &r.rebalanceMoved} {
		c.Store(0)
	}
	r.startedAt.Store(time.Now().UnixNano())
}
