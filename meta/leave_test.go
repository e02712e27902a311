package meta

import (
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestRegistryLeaveIsPlannedNotFailed: a node that leaves for a restart
// is out of placement at once and keeps the state "leaving" past the
// suspect timeout (so repair, which counts it like a suspect, waits); only
// past the dead timeout is it dead; its next heartbeat puts it back.
func TestRegistryLeaveIsPlannedNotFailed(t *testing.T) {
	r, clk, _ := newTestRegistry(t, "n1", "n2", "n3", "n4")
	if r.leave("ghost") {
		t.Error("leave of an unknown node reported success")
	}
	if !r.leave("n4") {
		t.Fatal("leave of a registered node failed")
	}
	if got := stateOf(t, r, "n4"); got != cairn.NodeLeaving {
		t.Fatalf("after leave: %v, want leaving", got)
	}
	for range 200 {
		reps, err := r.pick(cairn.NewChunkID(), 3, nil)
		if err != nil {
			t.Fatalf("pick 3 of 3 alive: %v", err)
		}
		for _, rep := range reps {
			if rep.Node == "n4" {
				t.Fatal("a leaving node was picked for a new chunk")
			}
		}
	}
	if r.stable() {
		t.Error("registry is stable while a node is away for a restart: rebalancing would start")
	}
	clk.advance(testSuspect + time.Second)
	for _, id := range []string{"n1", "n2", "n3"} {
		r.heartbeat(beat(id, true))
	}
	if got := stateOf(t, r, "n4"); got != cairn.NodeLeaving {
		t.Errorf("leaving node past the suspect timeout: %v, want leaving", got)
	}
	r.heartbeat(beat("n4", true))
	if got := stateOf(t, r, "n4"); got != cairn.NodeAlive {
		t.Errorf("after its heartbeat: %v, want alive", got)
	}
	r.leave("n4")
	clk.advance(testDead + time.Second)
	if got := stateOf(t, r, "n4"); got != cairn.NodeDead {
		t.Errorf("leaving node silent past the dead timeout: %v, want dead", got)
	}
}

// TestRepairScanCountsLeavingReplicas: a chunk with a replica on a
// leaving node needs no copy, and the leaving replica is not a source.
func TestRepairScanCountsLeavingReplicas(t *testing.T) {
	r, _, h := newTestRegistry(t, "n1", "n2", "n3")
	s := &Server{cfg: Config{DefaultReplication: 3}, reg: r, fsm: h.f}
	rep := &repairer{s: s}
	id := cairn.NewChunkID()
	rec := &pb.ChunkRecord{Inode: 99, Nodes: []string{"n1", "n2", "n3"}}
	r.leave("n3")
	var got []candidate
	b := h.f.db.NewIndexedBatch()
	h.mustOK(putProto(b, locKey(id), rec))
	h.mustOK(b.Commit(nil))
	h.mustOK(rep.scan(h.f.db, func(c candidate) bool { got = append(got, c); return true }))
	if len(got) != 1 {
		t.Fatalf("scan found %d candidates, want the chunk with a leaving replica", len(got))
	}
	c := got[0]
	if c.needsCopy() {
		t.Errorf("chunk with replicas alive,alive,leaving needs a copy: healthy %v suspect %v", c.healthy, c.suspect)
	}
	for _, src := range c.sources() {
		if src == "n3" {
			t.Error("a leaving node is used as a repair source")
		}
	}
}
