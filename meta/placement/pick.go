package placement

import (
	"fmt"

	"github.com/cairnfs/cairn"
)

// Pick returns n distinct nodes for the chunk key, in replica order (the
// first is the primary). It walks clockwise from the key's point in up to
// three passes, each restarting at that point and keeping the choices of
// the passes before:
//
//  1. take nodes whose zone has no replica yet;
//  2. take nodes whose rack (within its zone) has no replica yet;
//  3. take any node not yet chosen.
//
// So with at least n zones every replica lands in a different zone, and with
// fewer the replicas still spread over every zone, then over racks. Nodes
// with zero weight are never chosen, nor are nodes for which exclude returns
// true (dead, full, or failed earlier in this write); exclude may be nil and
// is called at most once per node per Pick.
//
// Pick costs a few hundred nanoseconds and does not allocate beyond its
// result (AppendPick not even that). Each excluded node costs one call of
// exclude plus a walk past its vnodes, so with a whole zone of 340 nodes
// excluded a Pick takes about 45 µs; exclude is meant for transient
// exclusions, and nodes that stay out should get weight 0 in a rebuilt Ring.
//
// The answer depends only on the ring's nodes (IDs, weights, domains), the
// key, n and exclude: never on the process, the release, or the order in
// which nodes were given to New.
//
// If fewer than n nodes are eligible, Pick returns all it found together with
// an error of kind cairn.Unavailable stating how many were wanted and found;
// the caller decides whether fewer replicas will do. If n < 1 it returns nil
// and an error of kind cairn.Invalid.
func (r *Ring) Pick(key cairn.ChunkID, n int, exclude func(cairn.NodeID) bool) ([]cairn.NodeID, error) {
	if n < 1 {
		return nil, badCount(n)
	}
	return r.AppendPick(make([]cairn.NodeID, 0, min(n, r.live)), key, n, exclude)
}

// AppendPick is Pick appending to dst, so a caller that reuses dst places a
// chunk without allocating. It returns dst unchanged and a cairn.Invalid
// error if n < 1.
func (r *Ring) AppendPick(dst []cairn.NodeID, key cairn.ChunkID, n int, exclude func(cairn.NodeID) bool) ([]cairn.NodeID, error) {
	if n < 1 {
		return dst, badCount(n)
	}
	found := 0
	if len(r.points) > 0 {
		s := r.scratch.Get().(*scratch)
		s.reset(r)
		start := r.search(keyPoint(key))
		for p := passZone; p <= passAny && s.chosen < n; p++ {
			dst = r.walk(s, dst, p, start, n, exclude)
		}
		found = s.chosen
		r.scratch.Put(s)
	}
	if found < n {
		return dst, cairn.E("placement.pick", cairn.Unavailable,
			fmt.Errorf("want %d nodes, found %d eligible", n, found))
	}
	return dst, nil
}

// badCount returns the error for a replica count below one.
func badCount(n int) error {
	return cairn.E("placement.pick", cairn.Invalid, fmt.Errorf("replica count %d < 1", n))
}

// search returns the index of the first point at or after p, wrapping to 0.
func (r *Ring) search(p uint64) int {
	lo, hi := 0, len(r.points)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.points[m] < p {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r.points) {
		return 0
	}
	return lo
}

// The passes of Pick, in order.
const (
	passZone = iota // a new zone for each replica
	passRack        // a new rack
	passAny         // any node not yet chosen
)

// walk runs one pass of Pick from vnode index start, appending choices to
// dst. It stops after n choices, a full circle, or as soon as no node left
// could qualify in this pass: every zone (rack) holds a replica or has
// no eligible node left, or no node is left at all.
func (r *Ring) walk(s *scratch, dst []cairn.NodeID, pass, start, n int, exclude func(cairn.NodeID) bool) []cairn.NodeID {
	L := len(r.points)
	for step, idx := 0, start; step < L && s.chosen < n; step, idx = step+1, idx+1 {
		switch {
		case pass == passZone && s.zonesDone == len(r.zoneSize),
			pass == passRack && s.racksDone == len(r.rackSize),
			s.left == 0:
			return dst
		}
		if idx == L {
			idx = 0
		}
		i := r.owners[idx]
		st := s.state(i)
		if st == stChosen || st == stExcluded {
			continue
		}
		switch pass {
		case passZone:
			z := r.zoneOf[i]
			s.touchZone(z, r)
			if s.zoneUsed[z] {
				continue
			}
		case passRack:
			k := r.rackOf[i]
			s.touchRack(k, r)
			if s.rackUsed[k] {
				continue
			}
		}
		if st == stUnknown {
			if exclude != nil && exclude(r.nodes[i].ID) {
				s.retire(r, i, stExcluded)
				continue
			}
			s.setState(i, stEligible)
		}
		s.retire(r, i, stChosen)
		dst = append(dst, r.nodes[i].ID)
	}
	return dst
}

// Node states within one Pick.
const (
	stUnknown  uint8 = iota // not looked at yet
	stEligible              // exclude said no, but the pass skipped it
	stExcluded              // exclude said yes
	stChosen                // in the answer
)

// scratch is the per-call state of Pick, pooled so Pick does not allocate.
// Entries are valid only when their generation stamp equals gen, so a new
// call starts clean by bumping gen instead of clearing every array.
type scratch struct {
	gen uint32

	nodeGen   []uint32
	nodeState []uint8

	zoneGen  []uint32
	zoneLeft []int32 // nodes in the zone neither chosen nor excluded
	zoneUsed []bool  // the zone holds a replica

	rackGen  []uint32
	rackLeft []int32
	rackUsed []bool

	zonesDone int // zones used or with nothing left
	racksDone int // racks used or with nothing left
	left      int // nodes with vnodes neither chosen nor excluded
	chosen    int
}

func newScratch(r *Ring) *scratch {
	return &scratch{
		nodeGen:   make([]uint32, len(r.nodes)),
		nodeState: make([]uint8, len(r.nodes)),
		zoneGen:   make([]uint32, len(r.zoneSize)),
		zoneLeft:  make([]int32, len(r.zoneSize)),
		zoneUsed:  make([]bool, len(r.zoneSize)),
		rackGen:   make([]uint32, len(r.rackSize)),
		rackLeft:  make([]int32, len(r.rackSize)),
		rackUsed:  make([]bool, len(r.rackSize)),
	}
}

// reset starts a new Pick.
func (s *scratch) reset(r *Ring) {
	s.gen++
	if s.gen == 0 { // wrapped: old stamps could look current
		clear(s.nodeGen)
		clear(s.zoneGen)
		clear(s.rackGen)
		s.gen = 1
	}
	s.zonesDone, s.racksDone, s.left, s.chosen = 0, 0, r.live, 0
}

func (s *scratch) state(i uint32) uint8 {
	if s.nodeGen[i] != s.gen {
		return stUnknown
	}
	return s.nodeState[i]
}

func (s *scratch) setState(i uint32, st uint8) {
	s.nodeGen[i], s.nodeState[i] = s.gen, st
}

// touchZone makes zone z's entries current.
func (s *scratch) touchZone(z int32, r *Ring) {
	if s.zoneGen[z] != s.gen {
		s.zoneGen[z], s.zoneLeft[z], s.zoneUsed[z] = s.gen, r.zoneSize[z], false
	}
}

// touchRack makes rack k's entries current.
func (s *scratch) touchRack(k int32, r *Ring) {
	if s.rackGen[k] != s.gen {
		s.rackGen[k], s.rackLeft[k], s.rackUsed[k] = s.gen, r.rackSize[k], false
	}
}

// retire moves node i, which is unknown or eligible, to stExcluded or
// stChosen, and updates the counts that let passes stop early.
func (s *scratch) retire(r *Ring, i uint32, st uint8) {
	s.setState(i, st)
	s.left--
	chosen := st == stChosen
	if chosen {
		s.chosen++
	}
	z, k := r.zoneOf[i], r.rackOf[i]
	s.touchZone(z, r)
	s.touchRack(k, r)
	wasDone := s.zoneUsed[z] || s.zoneLeft[z] == 0
	s.zoneLeft[z]--
	s.zoneUsed[z] = s.zoneUsed[z] || chosen
	if !wasDone && (s.zoneUsed[z] || s.zoneLeft[z] == 0) {
		s.zonesDone++
	}
	wasDone = s.rackUsed[k] || s.rackLeft[k] == 0
	s.rackLeft[k]--
	s.rackUsed[k] = s.rackUsed[k] || chosen
	if !wasDone && (s.rackUsed[k] || s.rackLeft[k] == 0) {
		s.racksDone++
	}
}
