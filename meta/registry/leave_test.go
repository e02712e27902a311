package registry

import (
	"errors"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
)

// TestRegistryLeaveIsPlannedNotFailed: a node that leaves for a restart
// is out of placement at once and keeps the state "leaving" past the
// suspect timeout (so repair, which counts it like a suspect, waits); only
// past the dead timeout is it dead; its next heartbeat puts it back.
func TestRegistryLeaveIsPlannedNotFailed(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1", "n2", "n3", "n4")
	if r.Leave("ghost") {
		t.Error("leave of an unknown node reported success")
	}
	if !r.Leave("n4") {
		t.Fatal("leave of a registered node failed")
	}
	if got := stateOf(t, r, "n4"); got != cairn.NodeLeaving {
		t.Fatalf("after leave: %v, want leaving", got)
	}
	for range 200 {
		reps, err := r.Pick(cairn.NewChunkID(), 3, nil)
		if err != nil {
			t.Fatalf("pick 3 of 3 alive: %v", err)
		}
		for _, rep := range reps {
			if rep.Node == "n4" {
				t.Fatal("a leaving node was picked for a new chunk")
			}
		}
	}
	if r.Stable() {
		t.Error("registry is stable while a node is away for a restart: rebalancing would start")
	}
	clk.advance(testSuspect + time.Second)
	for _, id := range []string{"n1", "n2", "n3"} {
		r.Heartbeat(beat(id, true))
	}
	if got := stateOf(t, r, "n4"); got != cairn.NodeLeaving {
		t.Errorf("leaving node past the suspect timeout: %v, want leaving", got)
	}
	r.Heartbeat(beat("n4", true))
	if got := stateOf(t, r, "n4"); got != cairn.NodeAlive {
		t.Errorf("after its heartbeat: %v, want alive", got)
	}
	r.Leave("n4")
	clk.advance(testDead + time.Second)
	if got := stateOf(t, r, "n4"); got != cairn.NodeDead {
		t.Errorf("leaving node silent past the dead timeout: %v, want dead", got)
	}
}

// TestPickShortfallRetryableWhileNodesReturn: too few usable nodes is
// Unavailable; it is marked retryable (the one-method interface the wire
// codec honours) only while nodes that are leaving or late would make up
// the difference.
func TestPickShortfallRetryableWhileNodesReturn(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1", "n2", "n3")
	retryable := func(err error) bool {
		var m interface{ Retryable() bool }
		return errors.As(err, &m) && m.Retryable()
	}
	r.Leave("n3")
	_, err := r.Pick(cairn.NewChunkID(), 3, nil)
	if !errors.Is(err, cairn.Unavailable) || !retryable(err) {
		t.Errorf("pick 3 with one node restarting: %v (retryable %v), want a retryable Unavailable", err, retryable(err))
	}
	clk.advance(testDead + time.Second)
	r.Heartbeat(beat("n1", true))
	r.Heartbeat(beat("n2", true))
	_, err = r.Pick(cairn.NewChunkID(), 3, nil)
	if !errors.Is(err, cairn.Unavailable) || retryable(err) {
		t.Errorf("pick 3 with one node dead: %v (retryable %v), want a plain Unavailable", err, retryable(err))
	}
}
