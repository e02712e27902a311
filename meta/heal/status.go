package heal

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// stats are the healer's progress counters since it last became leader.
type stats struct {
	queued, inFlight, repaired, failed, bytesMoved atomic.Uint64
	garbageQueued, garbageDeleted                  atomic.Uint64
	rebalanceQueued, rebalanceMoved                atomic.Uint64
	lastScan                                       atomic.Int64
	startedAt                                      atomic.Int64 // unix ns
}

// status reports progress, with rates measured up to now.
func (s *stats) status(now time.Time) *pb.RepairStatus {
	st := &pb.RepairStatus{Queued: s.queued.Load(), InFlight: s.inFlight.Load(), Repaired: s.repaired.Load(),
		Failed: s.failed.Load(), BytesMoved: s.bytesMoved.Load(), LastScanNs: s.lastScan.Load(),
		GarbageQueued: s.garbageQueued.Load(), GarbageDeleted: s.garbageDeleted.Load(),
		RebalanceQueued: s.rebalanceQueued.Load(), RebalanceMoved: s.rebalanceMoved.Load()}
	if secs := now.Sub(time.Unix(0, s.startedAt.Load())).Seconds(); secs > 0 {
		st.BytesPerSecond = float64(st.BytesMoved) / secs
	}
	if st.Repaired > 0 && st.BytesPerSecond > 0 {
		avg := float64(st.BytesMoved) / float64(st.Repaired)
		st.EtaSeconds = float64(st.Queued) * avg / st.BytesPerSecond
	}
	return st
}

// reset starts the counters afresh at now.
func (s *stats) reset(now time.Time) {
	for _, c := range []*atomic.Uint64{&s.queued, &s.repaired, &s.failed, &s.bytesMoved, &s.garbageQueued, &s.garbageDeleted, &s.rebalanceQueued, &s.rebalanceMoved} {
		c.Store(0)
	}
	s.startedAt.Store(now.UnixNano())
}

// corruptLog remembers recent reports of corrupt replicas, so that a
// repair places the new copy elsewhere when it can (the disk may be
// failing).
type corruptLog struct {
	mu      sync.Mutex
	reports map[cairn.ChunkID]corruptReport
}

type corruptReport struct {
	node string
	at   time.Time
}

// note records that node held a corrupt copy of id, and forgets reports
// older than ten minutes.
func (l *corruptLog) note(id cairn.ChunkID, node string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, v := range l.reports {
		if now.Sub(v.at) > 10*time.Minute {
			delete(l.reports, k)
		}
	}
	l.reports[id] = corruptReport{node, now}
}

// avoid returns the node that last reported id corrupt, if any.
func (l *corruptLog) avoid(id cairn.ChunkID) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.reports[id]
	return c.node, ok
}
