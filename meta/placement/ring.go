// Package placement decides where new chunks go. It is a consistent-hash ring
// with virtual nodes, weighted by capacity and aware of failure domains.
//
// Placement is computed, not stored: the metadata service keeps the
// authoritative map of where each chunk is, and uses a Ring only to choose
// the replica set of a chunk being written and to find chunks that a
// rebalance should move. A Ring is immutable; when membership or weights
// change the caller builds a new one with New, which takes about 25 ms for a
// thousand nodes.
//
// Each node gets a number of virtual nodes (points on a 64-bit circle)
// proportional to its weight. A chunk's key hashes to a point; Pick walks
// clockwise from it and takes distinct nodes, preferring a new zone for each
// replica, then a new rack, then any node not yet chosen.
//
// The hashes are part of the on-disk and on-wire contract, because every
// metadata peer and every release must compute the same placement: a virtual
// node's point is the 64-bit FNV-1a hash of the node ID's bytes followed by
// the virtual node's index as 4 little-endian bytes, passed through the
// MurmurHash3 64-bit finaliser; a key's point is the finaliser applied to its
// two little-endian 64-bit halves (see keyPoint). Changing either moves
// almost every chunk.
package placement

import (
	"cmp"
	"math"
	"slices"
	"sync"

	"github.com/cairnfs/cairn"
)

// DefaultVNodesPerNode is the average number of virtual nodes per node when
// Options.VNodesPerNode is zero. A node's share of the circle deviates from
// its fair share by about 1/sqrt(512) ≈ 4.4% (one standard deviation), so
// among 1,000 nodes the fullest gets about 13% more than the mean; 256 would
// give 6% and 25%. The cost is 12 bytes per vnode (6 MB for 1,000 nodes).
const DefaultVNodesPerNode = 512

// Node is one data node as the ring sees it.
type Node struct {
	ID cairn.NodeID
	// Weight is the node's share of new data, typically its capacity in
	// bytes. Zero (or a negative, NaN or infinite value) means the node is
	// draining: it stays in the ring's membership but gets no new chunks.
	// Load follows weight only while no node holds more than 1/n of the
	// total weight, since a node gets at most one of a chunk's n replicas;
	// failure-domain spreading also overrides weight when domains are
	// uneven (a lone zone of one node gets a replica of every chunk).
	Weight float64
	// Zone and Rack name the node's failure domains. Racks are scoped by
	// zone: rack "r1" in zone "a" and rack "r1" in zone "b" are different
	// racks. Empty strings are ordinary names (all nodes without a zone
	// share one zone).
	Zone, Rack string
}

// Options tunes a Ring.
type Options struct {
	// VNodesPerNode is the average number of virtual nodes per node with a
	// positive weight. A node gets round(VNodesPerNode × weight / mean
	// weight) of them, at least one. Zero means DefaultVNodesPerNode.
	//
	// Because counts are relative to the mean weight, a membership change
	// that shifts the mean changes every node's count a little, moving a
	// little more data than the optimum; equal-weight joins move only what
	// they must.
	VNodesPerNode int
}

// Ring is an immutable consistent-hash ring. It is safe for concurrent use.
type Ring struct {
	nodes  []Node  // sorted by ID, duplicates dropped
	zoneOf []int32 // node index -> zone index; -1 if the node has no vnodes
	rackOf []int32 // node index -> rack index; -1 if the node has no vnodes

	zoneSize []int32 // nodes with vnodes per zone
	rackSize []int32 // nodes with vnodes per rack
	live     int     // nodes with vnodes

	points []uint64 // vnode points, ascending
	owners []uint32 // owners[i] is the node index of points[i]

	scratch sync.Pool // *scratch, reused across Pick calls
}

// New builds a ring from nodes, which it copies. The result does not depend
// on the order of nodes. If two nodes share an ID the first is kept and the
// others are ignored.
func New(nodes []Node, opts Options) *Ring {
	vper := opts.VNodesPerNode
	if vper <= 0 {
		vper = DefaultVNodesPerNode
	}
	r := &Ring{nodes: canonical(nodes)}
	r.zoneOf = make([]int32, len(r.nodes))
	r.rackOf = make([]int32, len(r.nodes))

	var sum float64
	for _, n := range r.nodes {
		sum += weight(n)
	}
	mean := sum / float64(countPositive(r.nodes))
	counts := make([]int, len(r.nodes))
	total := 0
	zones := map[string]int32{}
	type zr struct{ zone, rack string }
	racks := map[zr]int32{}
	for i, n := range r.nodes {
		r.zoneOf[i], r.rackOf[i] = -1, -1
		w := weight(n)
		if w == 0 {
			continue
		}
		c := max(1, int(math.Round(float64(vper)*w/mean)))
		counts[i] = c
		total += c
		r.live++
		z, ok := zones[n.Zone]
		if !ok {
			z = int32(len(r.zoneSize))
			zones[n.Zone] = z
			r.zoneSize = append(r.zoneSize, 0)
		}
		rk, ok := racks[zr{n.Zone, n.Rack}]
		if !ok {
			rk = int32(len(r.rackSize))
			racks[zr{n.Zone, n.Rack}] = rk
			r.rackSize = append(r.rackSize, 0)
		}
		r.zoneOf[i], r.rackOf[i] = z, rk
		r.zoneSize[z]++
		r.rackSize[rk]++
	}

	vs := make([]vnode, 0, total)
	for i, n := range r.nodes {
		h0 := fnvString(fnvOffset, string(n.ID))
		for v := 0; v < counts[i]; v++ {
			vs = append(vs, vnode{point: vnodePoint(h0, uint32(v)), owner: uint32(i)})
		}
	}
	radixSort(vs)
	r.points = make([]uint64, len(vs))
	r.owners = make([]uint32, len(vs))
	for i, v := range vs {
		r.points[i], r.owners[i] = v.point, v.owner
	}
	r.scratch.New = func() any { return newScratch(r) }
	return r
}

// countPositive returns how many nodes have a positive weight; at least 1.
func countPositive(nodes []Node) int {
	c := 0
	for _, n := range nodes {
		if weight(n) > 0 {
			c++
		}
	}
	return max(c, 1)
}

// weight returns n's usable weight: 0 for draining or nonsensical weights.
func weight(n Node) float64 {
	w := n.Weight
	if !(w > 0) || math.IsInf(w, 0) {
		return 0
	}
	return w
}

// canonical copies nodes, sorts them by ID and drops later duplicates.
func canonical(nodes []Node) []Node {
	out := slices.Clone(nodes)
	slices.SortStableFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return slices.CompactFunc(out, func(a, b Node) bool { return a.ID == b.ID })
}

// Nodes returns a copy of the ring's membership, sorted by ID, including
// draining nodes.
func (r *Ring) Nodes() []Node { return slices.Clone(r.nodes) }

// Len returns the number of nodes in the ring, including draining nodes.
func (r *Ring) Len() int { return len(r.nodes) }

// VNodes returns the number of virtual nodes on the ring.
func (r *Ring) VNodes() int { return len(r.points) }

// vnode is one point on the ring during construction.
type vnode struct {
	point uint64
	owner uint32
}

// radixSort sorts vs by point, stably, so equal points (vanishingly rare)
// keep node-ID order and the ring stays deterministic. It is an LSD radix
// sort with 16-bit digits: four linear passes instead of n log n compares.
func radixSort(vs []vnode) {
	if len(vs) < 256 {
		slices.SortStableFunc(vs, func(a, b vnode) int { return cmp.Compare(a.point, b.point) })
		return
	}
	buf := make([]vnode, len(vs))
	src, dst := vs, buf
	var count [1 << 16]int
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		for _, v := range src {
			count[uint16(v.point>>shift)]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for _, v := range src {
			d := uint16(v.point >> shift)
			dst[count[d]] = v
			count[d]++
		}
		src, dst = dst, src
	}
	// Four passes: the sorted data is back in vs.
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// fnvString continues a 64-bit FNV-1a hash h over s.
func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// vnodePoint returns the point of virtual node v of the node whose ID hashes
// (FNV-1a, not yet finalised) to h.
func vnodePoint(h uint64, v uint32) uint64 {
	for i := 0; i < 4; i++ {
		h ^= uint64(byte(v >> (8 * i)))
		h *= fnvPrime
	}
	return fmix64(h)
}

// keyPoint returns the ring point of a chunk key.
func keyPoint(k cairn.ChunkID) uint64 {
	var lo, hi uint64
	for i := 7; i >= 0; i-- {
		lo = lo<<8 | uint64(k[i])
		hi = hi<<8 | uint64(k[8+i])
	}
	return fmix64(lo ^ fmix64(hi))
}

// fmix64 is the MurmurHash3 64-bit finaliser: a bijection that spreads
// every input bit over every output bit.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
