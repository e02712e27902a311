package placement

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cairnfs/cairn"
)

// domainNodes returns perRack nodes in every rack of every zone.
func domainNodes(zones, racks, perRack int) []Node {
	var nodes []Node
	for z := 0; z < zones; z++ {
		for k := 0; k < racks; k++ {
			for i := 0; i < perRack; i++ {
				nodes = append(nodes, Node{
					ID:     cairn.NodeID(fmt.Sprintf("z%d-r%d-n%d", z, k, i)),
					Weight: 1,
					Zone:   fmt.Sprintf("zone-%d", z),
					Rack:   fmt.Sprintf("rack-%d", k), // same rack names in every zone
				})
			}
		}
	}
	return nodes
}

func byID(r *Ring) map[cairn.NodeID]Node {
	m := map[cairn.NodeID]Node{}
	for _, n := range r.Nodes() {
		m[n.ID] = n
	}
	return m
}

// checkSpread picks n replicas for many keys and checks each answer has n
// distinct nodes over wantZones zones and wantRacks (zone, rack) pairs.
func checkSpread(t *testing.T, r *Ring, n, wantZones, wantRacks int, exclude func(cairn.NodeID) bool) {
	t.Helper()
	nodes := byID(r)
	for _, k := range keys(20_000, 9) {
		got, err := r.Pick(k, n, exclude)
		if err != nil {
			t.Fatalf("Pick: %v", err)
		}
		ids, zones, racks := map[cairn.NodeID]bool{}, map[string]bool{}, map[[2]string]bool{}
		for _, id := range got {
			nd := nodes[id]
			ids[id], zones[nd.Zone], racks[[2]string{nd.Zone, nd.Rack}] = true, true, true
			if exclude != nil && exclude(id) {
				t.Fatalf("picked excluded node %s", id)
			}
		}
		if len(ids) != n || len(zones) != wantZones || len(racks) != wantRacks {
			t.Fatalf("Pick = %v: %d nodes, %d zones, %d racks; want %d, %d, %d",
				got, len(ids), len(zones), len(racks), n, wantZones, wantRacks)
		}
	}
}

func TestFailureDomains(t *testing.T) {
	t.Run("3 zones n=3", func(t *testing.T) {
		checkSpread(t, New(domainNodes(3, 2, 4), Options{}), 3, 3, 3, nil)
	})
	t.Run("5 zones n=3", func(t *testing.T) {
		checkSpread(t, New(domainNodes(5, 1, 3), Options{}), 3, 3, 3, nil)
	})
	t.Run("2 zones n=3 spans both and a third rack", func(t *testing.T) {
		checkSpread(t, New(domainNodes(2, 2, 3), Options{}), 3, 2, 3, nil)
	})
	t.Run("2 zones of one rack n=3", func(t *testing.T) {
		checkSpread(t, New(domainNodes(2, 1, 3), Options{}), 3, 2, 2, nil)
	})
	t.Run("1 zone uses racks", func(t *testing.T) {
		checkSpread(t, New(domainNodes(1, 3, 4), Options{}), 3, 1, 3, nil)
	})
	t.Run("1 zone 2 racks n=4", func(t *testing.T) {
		checkSpread(t, New(domainNodes(1, 2, 4), Options{}), 4, 1, 2, nil)
	})
	t.Run("zone down", func(t *testing.T) {
		r := New(domainNodes(3, 2, 4), Options{})
		down := func(id cairn.NodeID) bool { return id[:2] == "z1" }
		checkSpread(t, r, 3, 2, 3, down)
	})
	t.Run("uneven zones", func(t *testing.T) {
		nodes := domainNodes(2, 3, 10)
		nodes = append(nodes, Node{ID: "lonely", Weight: 1, Zone: "zone-small"})
		checkSpread(t, New(nodes, Options{}), 3, 3, 3, nil)
	})
}

func TestExclude(t *testing.T) {
	r := New(equalNodes(30), Options{})
	excluded := map[cairn.NodeID]bool{}
	for i := 0; i < 30; i += 3 {
		excluded[cairn.NodeID(fmt.Sprintf("node-%04d", i))] = true
	}
	for _, k := range keys(5_000, 11) {
		calls := map[cairn.NodeID]int{}
		got, err := r.Pick(k, 3, func(id cairn.NodeID) bool {
			calls[id]++
			return excluded[id]
		})
		if err != nil || len(got) != 3 {
			t.Fatalf("Pick = %v, %v", got, err)
		}
		for _, id := range got {
			if excluded[id] {
				t.Fatalf("picked excluded %s", id)
			}
		}
		for id, c := range calls {
			if c > 1 {
				t.Fatalf("exclude called %d times for %s", c, id)
			}
		}
	}
}

func TestTooFewNodes(t *testing.T) {
	r := New(domainNodes(2, 1, 1), Options{})
	k := keys(1, 12)[0]
	got, err := r.Pick(k, 3, nil)
	if len(got) != 2 || !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Pick(3) of 2 nodes = %v, %v; want 2 nodes and Unavailable", got, err)
	}
	t.Logf("error: %v", err)
	got, err = r.Pick(k, 2, func(id cairn.NodeID) bool { return id == "z0-r0-n0" })
	if len(got) != 1 || got[0] != "z1-r0-n0" || !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Pick with one excluded = %v, %v", got, err)
	}
	got, err = r.Pick(k, 1, func(cairn.NodeID) bool { return true })
	if len(got) != 0 || !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Pick with all excluded = %v, %v", got, err)
	}
	got, err = New(nil, Options{}).Pick(k, 3, nil)
	if len(got) != 0 || !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Pick on empty ring = %v, %v", got, err)
	}
	if _, err := r.Pick(k, 0, nil); !errors.Is(err, cairn.Invalid) {
		t.Fatalf("Pick(0) error = %v, want Invalid", err)
	}
}

func TestDeterministic(t *testing.T) {
	a, b := New(domainNodes(3, 3, 5), Options{}), New(domainNodes(3, 3, 5), Options{})
	ex := func(id cairn.NodeID) bool { return id[len(id)-1] == '2' }
	for _, k := range keys(5_000, 13) {
		x, _ := a.Pick(k, 3, ex)
		y, _ := b.Pick(k, 3, ex)
		z, _ := a.Pick(k, 3, ex) // with a warm scratch
		if fmt.Sprint(x) != fmt.Sprint(y) || fmt.Sprint(x) != fmt.Sprint(z) {
			t.Fatalf("Pick not deterministic: %v %v %v", x, y, z)
		}
	}
}

func TestConcurrentPick(t *testing.T) {
	r := New(domainNodes(3, 2, 5), Options{})
	ks := keys(2_000, 14)
	want := make([]string, len(ks))
	for i, k := range ks {
		got, _ := r.Pick(k, 3, nil)
		want[i] = fmt.Sprint(got)
	}
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i, k := range ks {
				if got, _ := r.Pick(k, 3, nil); fmt.Sprint(got) != want[i] {
					done <- fmt.Errorf("key %d: %v, want %s", i, got, want[i])
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestAppendPickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	r := New(domainNodes(3, 4, 80), Options{})
	ks := keys(1024, 15)
	dst := make([]cairn.NodeID, 0, 3)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		dst, _ = r.AppendPick(dst[:0], ks[i%len(ks)], 3, nil)
		i++
	})
	if allocs != 0 {
		t.Errorf("AppendPick allocates %.1f times per call", allocs)
	}
}

func BenchmarkPick(b *testing.B) {
	r := New(domainNodes(3, 10, 34), Options{}) // 1,020 nodes
	ks := keys(1<<16, 16)
	b.Run("Pick", func(b *testing.B) {
		i := 0
		for b.Loop() {
			r.Pick(ks[i&(len(ks)-1)], 3, nil)
			i++
		}
	})
	b.Run("AppendPick", func(b *testing.B) {
		dst := make([]cairn.NodeID, 0, 3)
		dead := map[cairn.NodeID]bool{"z0-r0-n0": true, "z1-r5-n7": true}
		ex := func(id cairn.NodeID) bool { return dead[id] }
		i := 0
		for b.Loop() {
			dst, _ = r.AppendPick(dst[:0], ks[i&(len(ks)-1)], 3, ex)
			i++
		}
	})
	b.Run("ZoneDown", func(b *testing.B) {
		dst := make([]cairn.NodeID, 0, 3)
		ex := func(id cairn.NodeID) bool { return id[:2] == "z1" }
		i := 0
		for b.Loop() {
			dst, _ = r.AppendPick(dst[:0], ks[i&(len(ks)-1)], 3, ex)
			i++
		}
	})
	b.Run("NoZones", func(b *testing.B) {
		r := New(equalNodes(1000), Options{})
		i := 0
		for b.Loop() {
			r.Pick(ks[i&(len(ks)-1)], 3, nil)
			i++
		}
	})
}
