package heal

import (
	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

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

// scan walks the location map and calls fn, until it returns false, for
// the chunks below their replication and the chunks that are whole but
// still list dead or draining replicas.
func scan(v *state.View, nodes Nodes, defaultReplication int, fn func(c candidate) bool) error {
	return eachChunk(v, defaultReplication, func(id cairn.ChunkID, rec *pb.ChunkRecord, want int) bool {
		c := candidate{id: id, rec: rec, want: want}
		for _, n := range rec.Nodes {
			_, st, known := nodes.Addr(cairn.NodeID(n))
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
func eachChunk(v *state.View, defaultReplication int, fn func(id cairn.ChunkID, rec *pb.ChunkRecord, want int) bool) error {
	wants := map[uint64]int{}
	return v.EachChunk(func(id cairn.ChunkID, rec *pb.ChunkRecord) bool {
		return fn(id, rec, wantOf(v, wants, defaultReplication, rec.Inode))
	})
}

// wantOf returns the replication of inode's file, caching per scan.
func wantOf(v *state.View, cache map[uint64]int, defaultReplication int, ino uint64) int {
	want, ok := cache[ino]
	if !ok {
		want = defaultReplication
		if a, err := v.Attr(cairn.InodeID(ino)); err == nil && a.Replication > 0 {
			want = int(a.Replication)
		}
		cache[ino] = want
	}
	return want
}
