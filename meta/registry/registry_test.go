package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// fakeClock is a settable clock for the registry.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

const (
	testSuspect = 10 * time.Second
	testDead    = 30 * time.Second
)

// record is a node record as the state machine stores it on registration.
func record(id string) *pb.NodeRecord {
	return &pb.NodeRecord{Id: id, Addr: id + ":7001", Zone: "z-" + id, Capacity: 1 << 30}
}

// newTestRegistry loads registered nodes into a registry with a fake clock,
// and has each of them beat once (a leader places chunks only on nodes it
// has heard from).
func newTestRegistry(t *testing.T, nodes ...string) (*Registry, *fakeClock, []*pb.NodeRecord) {
	t.Helper()
	var recs []*pb.NodeRecord
	for _, id := range nodes {
		recs = append(recs, record(id))
	}
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	reg := New(Config{SuspectAfter: testSuspect, DeadAfter: testDead, Now: clk.now})
	reg.Load(recs)
	for _, id := range nodes {
		reg.Heartbeat(beat(id, true))
	}
	return reg, clk, recs
}

func beat(id string, healthy bool) *pb.HeartbeatRequest {
	return &pb.HeartbeatRequest{Id: id, Addr: id + ":7001", Capacity: 1 << 30, Healthy: healthy}
}

func stateOf(t *testing.T, r *Registry, id string) cairn.NodeState {
	t.Helper()
	_, st, ok := r.Addr(cairn.NodeID(id))
	if !ok {
		t.Fatalf("node %s unknown", id)
	}
	return st
}

func TestRegistryStatesByHeartbeatAge(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1")
	steps := []struct {
		advance time.Duration
		want    cairn.NodeState
	}{
		{0, cairn.NodeAlive},
		{testSuspect, cairn.NodeAlive}, // exactly at the limit: not yet late
		{time.Millisecond, cairn.NodeSuspect},
		{testDead - testSuspect - time.Millisecond, cairn.NodeSuspect},
		{time.Millisecond, cairn.NodeDead},
		{time.Hour, cairn.NodeDead},
	}
	for i, s := range steps {
		clk.advance(s.advance)
		if got := stateOf(t, r, "n1"); got != s.want {
			t.Errorf("step %d (+%v): state %v, want %v", i, s.advance, got, s.want)
		}
	}
	// A heartbeat brings a dead node back.
	if !r.Heartbeat(beat("n1", true)) {
		t.Fatal("heartbeat of a registered node refused")
	}
	if got := stateOf(t, r, "n1"); got != cairn.NodeAlive {
		t.Errorf("after heartbeat: %v", got)
	}
	addr, _, _ := r.Addr("n1")
	if addr != "n1:7001" {
		t.Errorf("addr = %q", addr)
	}
	if _, st, ok := r.Addr("ghost"); ok || st != cairn.NodeDead {
		t.Errorf("unknown node: state %v, known %v", st, ok)
	}
}

func TestRegistryHeartbeatValidation(t *testing.T) {
	r, _, _ := newTestRegistry(t, "n1")
	if r.Heartbeat(beat("ghost", true)) {
		t.Error("heartbeat from an unregistered node accepted")
	}
	moved := beat("n1", true)
	moved.Addr = "elsewhere:1"
	if r.Heartbeat(moved) {
		t.Error("heartbeat with a changed address accepted")
	}
}

func TestRegistryUnhealthyIsSuspect(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1")
	r.Heartbeat(beat("n1", false))
	if got := stateOf(t, r, "n1"); got != cairn.NodeSuspect {
		t.Errorf("unhealthy heartbeat: %v, want suspect", got)
	}
	clk.advance(testDead + time.Second)
	if got := stateOf(t, r, "n1"); got != cairn.NodeDead {
		t.Errorf("unhealthy and silent: %v, want dead", got)
	}
	r.Heartbeat(beat("n1", true))
	if got := stateOf(t, r, "n1"); got != cairn.NodeAlive {
		t.Errorf("healthy again: %v", got)
	}
}

func TestRegistryResetClocksGivesGrace(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1", "n2")
	clk.advance(testDead + time.Second)
	if stateOf(t, r, "n1") != cairn.NodeDead || stateOf(t, r, "n2") != cairn.NodeDead {
		t.Fatal("nodes not dead after the dead timeout")
	}
	r.ResetClocks()
	// Not dead (no repair yet), but not heard from by this leader: no
	// new chunks go there, and the shortage is worth retrying.
	for _, id := range []string{"n1", "n2"} {
		if got := stateOf(t, r, id); got != cairn.NodeSuspect {
			t.Errorf("%s after ResetClocks: %v, want suspect until it beats", id, got)
		}
	}
	if reps, err := r.Pick(cairn.NewChunkID(), 1, nil); err == nil || !errors.As(err, new(transient)) {
		t.Errorf("Pick before any heartbeat = %v, %v; want a retryable refusal", reps, err)
	}
	if st := r.Status(); !strings.Contains(st[0].HealthDetail, "no heartbeat since") {
		t.Errorf("status of an unheard node says %q", st[0].HealthDetail)
	}
	r.Heartbeat(beat("n1", true))
	if got := stateOf(t, r, "n1"); got != cairn.NodeAlive {
		t.Errorf("n1 after its heartbeat: %v", got)
	}
	for range 50 {
		reps, err := r.Pick(cairn.NewChunkID(), 1, nil)
		if err != nil || reps[0].Node != "n1" {
			t.Fatalf("Pick with only n1 heard from = %v, %v", reps, err)
		}
	}
	if _, err := r.Pick(cairn.NewChunkID(), 2, nil); err == nil {
		t.Error("Pick of 2 placed a chunk on a node this leader never heard from")
	}
	clk.advance(testSuspect + time.Second)
	if got := stateOf(t, r, "n1"); got != cairn.NodeSuspect {
		t.Errorf("grace does not last forever: %v", got)
	}
	clk.advance(testDead)
	if got := stateOf(t, r, "n2"); got != cairn.NodeDead {
		t.Errorf("a node silent through the new leader's whole grace period: %v, want dead", got)
	}
}

func TestRegistryPickOnlyAliveNodes(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4"}
	r, clk, _ := newTestRegistry(t, nodes...)
	ids := make([]cairn.ChunkID, 200)
	for i := range ids {
		ids[i] = cairn.NewChunkID()
	}
	pickAll := func(n int) map[string]bool {
		t.Helper()
		used := map[string]bool{}
		for _, id := range ids {
			reps, err := r.Pick(id, n, nil)
			if err != nil {
				t.Fatalf("pick %d: %v", n, err)
			}
			if len(reps) != n {
				t.Fatalf("pick %d returned %d replicas", n, len(reps))
			}
			seen := map[string]bool{}
			for _, rep := range reps {
				if seen[rep.Node] {
					t.Fatalf("pick returned %s twice", rep.Node)
				}
				seen[rep.Node] = true
				if rep.Addr != rep.Node+":7001" {
					t.Errorf("replica %s has addr %q", rep.Node, rep.Addr)
				}
				used[rep.Node] = true
			}
		}
		return used
	}
	if used := pickAll(2); len(used) != 4 {
		t.Errorf("200 picks used only %v", used)
	}

	// n4 goes silent until dead; n3 turns unhealthy (suspect).
	clk.advance(testDead - time.Second)
	for _, id := range []string{"n1", "n2"} {
		r.Heartbeat(beat(id, true))
	}
	r.Heartbeat(beat("n3", false))
	clk.advance(2 * time.Second)
	if stateOf(t, r, "n4") != cairn.NodeDead || stateOf(t, r, "n3") != cairn.NodeSuspect {
		t.Fatalf("setup: n3 %v, n4 %v", stateOf(t, r, "n3"), stateOf(t, r, "n4"))
	}
	used := pickAll(2)
	if used["n4"] || used["n3"] {
		t.Errorf("pick chose a dead or suspect node: %v", used)
	}
	if !used["n1"] || !used["n2"] {
		t.Errorf("pick did not use both alive nodes: %v", used)
	}
	_, err := r.Pick(ids[0], 3, nil)
	if !errors.Is(err, cairn.Unavailable) {
		t.Errorf("pick 3 of 2 alive: %v, want Unavailable", err)
	}
	// Exclusions are honoured.
	if _, err := r.Pick(ids[0], 2, map[cairn.NodeID]bool{"n1": true}); !errors.Is(err, cairn.Unavailable) {
		t.Errorf("pick 2 with one of two excluded: %v", err)
	}
	reps, err := r.Pick(ids[0], 1, map[cairn.NodeID]bool{"n1": true})
	if err != nil || len(reps) != 1 || reps[0].Node != "n2" {
		t.Errorf("pick 1 excluding n1 = %v, %v", reps, err)
	}

	// The dead node comes back and is used again (the cached ring is rebuilt).
	r.Heartbeat(beat("n4", true))
	r.Heartbeat(beat("n3", true))
	if used := pickAll(3); len(used) != 4 {
		t.Errorf("after recovery picks used %v", used)
	}
	// Everybody dead: nothing to pick.
	clk.advance(testDead + time.Second)
	if _, err := r.Pick(ids[0], 1, nil); !errors.Is(err, cairn.Unavailable) {
		t.Errorf("pick with all nodes dead: %v", err)
	}
}

func TestRegistryReloadAndStatus(t *testing.T) {
	r, clk, recs := newTestRegistry(t, "b", "a")
	clk.advance(testDead + time.Second) // both dead
	// A new node registers; Load keeps the old clocks and starts the new one.
	r.Load(append(recs, &pb.NodeRecord{Id: "c", Addr: "c:7001"}))
	st := r.Status()
	var ids, states []string
	for _, s := range st {
		ids, states = append(ids, s.Id), append(states, s.State)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Errorf("status ids = %v, want sorted a b c", ids)
	}
	if !slices.Equal(states, []string{"dead", "dead", "suspect"}) {
		t.Errorf("status states = %v", states)
	}
	if st[0].Zone != "z-a" || st[0].Addr != "a:7001" {
		t.Errorf("status of a = %v", st[0])
	}
	r.Heartbeat(&pb.HeartbeatRequest{Id: "c", Addr: "c:7001", Healthy: true})
	reps, err := r.Pick(cairn.NewChunkID(), 1, nil)
	if err != nil || reps[0].Node != "c" {
		t.Errorf("pick with only c alive = %v, %v", reps, err)
	}
}

// TestRegistryFullNodeGetsNoChunks: a node whose heartbeat says it is
// full stays alive (its chunks are readable and healthy) but gets no new
// chunk until a heartbeat says it has room again; Status shows it.
func TestRegistryFullNodeGetsNoChunks(t *testing.T) {
	r, _, _ := newTestRegistry(t, "n1", "n2", "n3")
	full := beat("n2", true)
	full.Full, full.Free, full.HealthDetail = true, 1<<20, "disk full: 1.0 MiB free"
	r.Heartbeat(full)
	if got := stateOf(t, r, "n2"); got != cairn.NodeAlive {
		t.Errorf("a full node is %v, want alive (readable, not repaired)", got)
	}
	for range 200 {
		reps, err := r.Pick(cairn.NewChunkID(), 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rep := range reps {
			if rep.Node == "n2" {
				t.Fatal("a full node was picked for a new chunk")
			}
		}
	}
	if _, err := r.Pick(cairn.NewChunkID(), 3, nil); err == nil {
		t.Error("3 replicas placed with one of 3 nodes full")
	}
	var st *pb.NodeStatus
	for _, s := range r.Status() {
		if s.Id == "n2" {
			st = s
		}
	}
	if st == nil || !st.Full || st.Free != 1<<20 || !strings.Contains(st.HealthDetail, "disk full") {
		t.Errorf("status of the full node: %v", st)
	}
	r.Heartbeat(beat("n2", true)) // room again
	if reps, err := r.Pick(cairn.NewChunkID(), 3, nil); err != nil || len(reps) != 3 {
		t.Errorf("after the node has room again: %v, %v", reps, err)
	}
}

// TestRegistrySlowNodeIsAvoided: a node reported slow gets no new chunk
// while other nodes can take it, still counts when they cannot (a report
// never makes a write fail), shows as slow, and is back after SlowFor.
func TestRegistrySlowNodeIsAvoided(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1", "n2", "n3", "n4")
	if r.ReportSlow("ghost", "?") {
		t.Error("a report on an unknown node was accepted")
	}
	if !r.ReportSlow("n2", "no progress for 1.5s") {
		t.Fatal("report refused")
	}
	for range 200 {
		reps, err := r.Pick(cairn.NewChunkID(), 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rep := range reps {
			if rep.Node == "n2" {
				t.Fatal("a slow node was picked while three others could take the chunk")
			}
		}
	}
	if reps, err := r.Pick(cairn.NewChunkID(), 4, nil); err != nil || len(reps) != 4 {
		t.Errorf("4 replicas of 4 nodes with one slow: %v, %v; want the slow one used", reps, err)
	}
	for _, s := range r.Status() {
		if s.Id == "n2" && (!s.Slow || !strings.Contains(s.HealthDetail, "no progress")) {
			t.Errorf("status of the slow node: %v", s)
		}
	}
	clk.advance(SlowFor + time.Second)
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		r.Heartbeat(beat(id, true))
	}
	used := false
	for range 200 {
		reps, _ := r.Pick(cairn.NewChunkID(), 3, nil)
		for _, rep := range reps {
			used = used || rep.Node == "n2"
		}
	}
	if !used {
		t.Error("the node stayed avoided past SlowFor")
	}
}
