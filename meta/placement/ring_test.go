package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cairnfs/cairn"
)

// equalNodes returns n nodes of weight 1 and no failure domains.
func equalNodes(n int) []Node {
	nodes := make([]Node, n)
	for i := range nodes {
		nodes[i] = Node{ID: cairn.NodeID(fmt.Sprintf("node-%04d", i)), Weight: 1}
	}
	return nodes
}

// keys returns n pseudo-random chunk IDs, the same on every run.
func keys(n int, seed uint64) []cairn.ChunkID {
	r := rand.New(rand.NewPCG(seed, 42))
	ks := make([]cairn.ChunkID, n)
	for i := range ks {
		var k cairn.ChunkID
		for j := range k {
			k[j] = byte(r.Uint32())
		}
		ks[i] = k
	}
	return ks
}

// load places every key with n replicas and returns replicas per node ID.
func load(t testing.TB, r *Ring, ks []cairn.ChunkID, n int) map[cairn.NodeID]int {
	t.Helper()
	counts := map[cairn.NodeID]int{}
	var dst []cairn.NodeID
	for _, k := range ks {
		var err error
		dst, err = r.AppendPick(dst[:0], k, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range dst {
			counts[id]++
		}
	}
	return counts
}

// spread returns min/mean and max/mean of per-node values.
func spread(vals []float64) (lo, hi float64) {
	var sum float64
	for _, v := range vals {
		sum += v
	}
	mean := sum / float64(len(vals))
	return slices.Min(vals) / mean, slices.Max(vals) / mean
}

// arcShares returns each node's exact fraction of the circle as primary.
func arcShares(r *Ring) []float64 {
	share := make([]float64, len(r.nodes))
	L := len(r.points)
	for i := range r.points {
		prev := r.points[(i+L-1)%L]
		share[r.owners[i]] += float64(r.points[i]-prev) / (1 << 64) // wraps correctly
	}
	return share
}

func TestBalance(t *testing.T) {
	for _, tc := range []struct {
		nodes, keys int
		arc, load   float64 // allowed deviation from the mean, exact arcs and sampled load
	}{
		{10, 200_000, 0.10, 0.10},
		{100, 300_000, 0.17, 0.17},
		{1000, 1_000_000, 0.20, 0.20},
	} {
		t.Run(fmt.Sprint(tc.nodes), func(t *testing.T) {
			r := New(equalNodes(tc.nodes), Options{})
			alo, ahi := spread(arcShares(r))
			counts := load(t, r, keys(tc.keys, 1), 3)
			vals := make([]float64, 0, tc.nodes)
			for _, n := range r.nodes {
				vals = append(vals, float64(counts[n.ID]))
			}
			llo, lhi := spread(vals)
			t.Logf("%d nodes, %d vnodes: primary arc min/mean %.3f max/mean %.3f; "+
				"%d keys x3 load min/mean %.3f max/mean %.3f",
				tc.nodes, r.VNodes(), alo, ahi, tc.keys, llo, lhi)
			if alo < 1-tc.arc || ahi > 1+tc.arc {
				t.Errorf("primary arcs outside ±%.0f%%", tc.arc*100)
			}
			if llo < 1-tc.load || lhi > 1+tc.load {
				t.Errorf("replica load outside ±%.0f%%", tc.load*100)
			}
		})
	}
}

// TestBalanceFailsWithoutVNodes checks the balance bounds mean something: a
// ring with one vnode per node falls far outside them.
func TestBalanceFailsWithoutVNodes(t *testing.T) {
	r := New(equalNodes(100), Options{VNodesPerNode: 1})
	lo, hi := spread(arcShares(r))
	t.Logf("100 nodes, 1 vnode each: min/mean %.3f max/mean %.3f", lo, hi)
	if hi < 1.5 {
		t.Errorf("max/mean %.3f with one vnode per node; the balance test would not catch a broken ring", hi)
	}
}

func TestWeighted(t *testing.T) {
	nodes := equalNodes(20)
	for i := range nodes {
		if i%2 == 0 {
			nodes[i].Weight = 2e12 // weights are capacities: scale is irrelevant
		} else {
			nodes[i].Weight = 1e12
		}
	}
	r := New(nodes, Options{})
	for _, n := range []int{1, 3} {
		counts := load(t, r, keys(300_000, 2), n)
		var heavy, light float64
		for i, nd := range nodes {
			if i%2 == 0 {
				heavy += float64(counts[nd.ID])
			} else {
				light += float64(counts[nd.ID])
			}
		}
		ratio := heavy / light
		t.Logf("n=%d: weight-2 nodes carry %.3fx the load of weight-1 nodes", n, ratio)
		if ratio < 1.8 || ratio > 2.2 {
			t.Errorf("n=%d: load ratio %.3f, want about 2", n, ratio)
		}
	}
}

func TestZeroWeightGetsNothing(t *testing.T) {
	nodes := equalNodes(10)
	nodes[3].Weight = 0
	nodes[7].Weight = -1 // nonsense counts as draining too
	r := New(nodes, Options{})
	if r.Len() != 10 {
		t.Errorf("Len = %d, want 10 (draining nodes stay members)", r.Len())
	}
	counts := load(t, r, keys(50_000, 3), 3)
	if counts[nodes[3].ID] != 0 || counts[nodes[7].ID] != 0 {
		t.Errorf("draining nodes got %d and %d replicas", counts[nodes[3].ID], counts[nodes[7].ID])
	}
	// With only draining nodes nothing can be placed.
	r = New([]Node{{ID: "a"}, {ID: "b"}}, Options{})
	got, err := r.Pick(keys(1, 4)[0], 1, nil)
	if len(got) != 0 || !errors.Is(err, cairn.Unavailable) {
		t.Errorf("all draining: got %v, %v; want none and Unavailable", got, err)
	}
}

func TestMovementOnJoin(t *testing.T) {
	ks := keys(200_000, 5)
	for _, n := range []int{10, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			nodes := equalNodes(n + 1)
			joiner := nodes[n].ID
			before, after := New(nodes[:n], Options{}), New(nodes, Options{})
			moved, wrong := 0, 0
			var a, b []cairn.NodeID
			for _, k := range ks {
				a, _ = before.AppendPick(a[:0], k, 1, nil)
				b, _ = after.AppendPick(b[:0], k, 1, nil)
				if a[0] != b[0] {
					moved++
					if b[0] != joiner {
						wrong++
					}
				}
			}
			frac, optimum := float64(moved)/float64(len(ks)), 1/float64(n+1)
			t.Logf("%d -> %d nodes: %.4f of primaries moved (optimum %.4f, ratio %.2f)",
				n, n+1, frac, optimum, frac/optimum)
			if wrong > 0 {
				t.Errorf("%d primaries moved between old nodes", wrong)
			}
			if frac > 1.5*optimum {
				t.Errorf("moved %.4f, more than 1.5x the optimum %.4f", frac, optimum)
			}
		})
	}
}

func TestOrderIndependentAndDuplicates(t *testing.T) {
	nodes := equalNodes(50)
	shuffled := slices.Clone(nodes)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	shuffled = append(shuffled, Node{ID: nodes[0].ID, Weight: 100}) // ignored duplicate
	a, b := New(nodes, Options{}), New(shuffled, Options{})
	if !slices.Equal(a.points, b.points) || !slices.Equal(a.owners, b.owners) {
		t.Fatal("rings differ with input order")
	}
	if b.Len() != 50 {
		t.Errorf("Len = %d, want 50 after dropping a duplicate", b.Len())
	}
}

// TestGolden pins the hash functions: a change here moves almost every chunk
// in every existing cluster, so it must never happen by accident.
func TestGolden(t *testing.T) {
	r := New(equalNodes(10), Options{VNodesPerNode: 4})
	var key cairn.ChunkID
	for i := range key {
		key[i] = byte(i)
	}
	if got, want := keyPoint(key), uint64(0x837ed055491c64b9); got != want {
		t.Errorf("keyPoint = %#x, want %#x", got, want)
	}
	if got, want := vnodePoint(fnvString(fnvOffset, "node-0000"), 3), uint64(0xc219a164ccdd70ad); got != want {
		t.Errorf("vnodePoint = %#x, want %#x", got, want)
	}
	got, _ := r.Pick(key, 3, nil)
	if want := []cairn.NodeID{"node-0001", "node-0007", "node-0000"}; !slices.Equal(got, want) {
		t.Errorf("Pick = %q, want %q", got, want)
	}
}

// TestBuildLargeRing builds a 1,000-node ring and checks its shape; how
// long that takes is BenchmarkNew's business (a wall-clock limit in a unit
// test fails on a busy machine, not on a slow ring).
func TestBuildLargeRing(t *testing.T) {
	nodes := equalNodes(1000)
	r := New(nodes, Options{})
	if got, want := r.VNodes(), 1000*DefaultVNodesPerNode; got != want {
		t.Errorf("1,000 equal nodes got %d vnodes, want %d", got, want)
	}
	for i := 1; i < len(r.points); i++ {
		if r.points[i-1] > r.points[i] {
			t.Fatalf("points not sorted at %d", i)
		}
	}
}

// BenchmarkNew measures building a 1,000-node ring (aim: well under 100 ms
// per build on one core).
func BenchmarkNew(b *testing.B) {
	nodes := equalNodes(1000)
	for b.Loop() {
		New(nodes, Options{})
	}
}
