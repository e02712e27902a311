package client

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// nodeLoad is what a client knows about the data nodes it talks to: how
// many of its requests each one is serving (reads go to the least busy
// replica), and which ones recently refused a connection or answered 503
// (a node stopping or overloaded) or stalled: those are tried last, and
// left out of new replica sets, for avoidFor — doubled for each failure in
// a row, up to maxAvoidFactor times, so that a node frozen for minutes
// costs a write a few seconds now and then, not every avoidFor.
type nodeLoad struct {
	avoidFor time.Duration
	now      func() time.Time

	mu       sync.Mutex
	inflight map[string]int        // by node address
	avoid    map[string]avoidEntry // by node address
	reported map[string]time.Time  // by node ID: when this client last reported it slow
}

type avoidEntry struct {
	node    string
	until   time.Time
	strikes int // failures without a success in between
}

// maxAvoidFactor bounds how far repeated failures stretch the avoidance.
const maxAvoidFactor = 16

func newNodeLoad(avoidFor time.Duration) *nodeLoad {
	return &nodeLoad{avoidFor: avoidFor, now: time.Now, inflight: map[string]int{}, avoid: map[string]avoidEntry{}, reported: map[string]time.Time{}}
}

// start counts a request to addr; call the returned func when it ends.
func (l *nodeLoad) start(addr string) func() {
	l.mu.Lock()
	l.inflight[addr]++
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		if l.inflight[addr]--; l.inflight[addr] <= 0 {
			delete(l.inflight, addr)
		}
		l.mu.Unlock()
	}
}

// failed records that a node could not be reached or answered 503; it is
// avoided for a while. Other errors (a missing chunk, bad bytes) say
// nothing about the node's health and are not recorded.
func (l *nodeLoad) failed(node, addr string, err error) {
	if l.avoidFor <= 0 || cairn.KindOf(err) != cairn.Unavailable {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.avoid[addr]
	now := l.now()
	if e.until.After(now) {
		return // already avoided: concurrent failures are one strike
	}
	e.node, e.strikes = node, e.strikes+1
	e.until = now.Add(l.avoidFor * time.Duration(min(1<<(e.strikes-1), maxAvoidFactor)))
	l.avoid[addr] = e
}

// reportOnce says whether to report node slow now: at most once per
// reportEvery from one client.
func (l *nodeLoad) reportOnce(node string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if last, ok := l.reported[node]; ok && now.Sub(last) < reportEvery {
		return false
	}
	if len(l.reported) > 4096 {
		clear(l.reported)
	}
	l.reported[node] = now
	return true
}

// reportEvery spaces one client's slow reports of one node.
const reportEvery = 10 * time.Second

// succeeded records that a node served a request: it is not avoided, and
// its strikes are forgotten.
func (l *nodeLoad) succeeded(addr string) {
	l.mu.Lock()
	delete(l.avoid, addr)
	l.mu.Unlock()
}

// avoidedLocked reports whether addr is being avoided. An entry whose time
// is up stays (with its strikes) until the node succeeds, or for a long
// while after.
func (l *nodeLoad) avoidedLocked(addr string) bool {
	e, ok := l.avoid[addr]
	now := l.now()
	if ok && now.After(e.until.Add(maxAvoidFactor*l.avoidFor)) {
		delete(l.avoid, addr)
		return false
	}
	return ok && now.Before(e.until)
}

// stateRank orders node states as the metadata reports them: alive
// first, unknown last.
func stateRank(state string) int {
	switch state {
	case "", "alive", "draining":
		return 0
	case "suspect":
		return 1
	case "leaving":
		return 2
	case "dead":
		return 3
	}
	return 4
}

// order returns the replicas in the order to try them: nodes not being
// avoided first, then by the state the metadata reported (alive first),
// then by this client's requests in flight to them, ties at random.
func (l *nodeLoad) order(reps []*pb.Replica) []*pb.Replica {
	type ranked struct {
		r             *pb.Replica
		avoid, rank   int
		load, shuffle int
	}
	rs := make([]ranked, len(reps))
	l.mu.Lock()
	for i, r := range reps {
		rs[i] = ranked{r: r, rank: stateRank(r.State), load: l.inflight[r.Addr], shuffle: rand.Int()}
		if l.avoidedLocked(r.Addr) {
			rs[i].avoid = 1
		}
	}
	l.mu.Unlock()
	slices.SortFunc(rs, func(a, b ranked) int {
		for _, d := range []int{a.avoid - b.avoid, a.rank - b.rank, a.load - b.load} {
			if d != 0 {
				return d
			}
		}
		return a.shuffle - b.shuffle
	})
	out := make([]*pb.Replica, len(rs))
	for i, r := range rs {
		out[i] = r.r
	}
	return out
}

// avoided returns the IDs of the nodes being avoided if any of reps is
// one of them, else nil.
func (l *nodeLoad) avoided(reps []*pb.Replica) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	hit := false
	for _, r := range reps {
		hit = hit || l.avoidedLocked(r.Addr)
	}
	if !hit {
		return nil
	}
	var ids []string
	for addr, e := range l.avoid {
		if l.avoidedLocked(addr) {
			ids = append(ids, e.node)
		}
	}
	slices.Sort(ids)
	return ids
}
