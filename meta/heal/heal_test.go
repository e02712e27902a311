package heal

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// world is a state machine and a registry, without Raft: proposals apply
// at once.
type world struct {
	t   *testing.T
	st  *state.Machine
	reg *registry.Registry
	idx uint64
	now time.Time
}

func newWorld(t *testing.T, nodes ...string) *world {
	t.Helper()
	st, err := state.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, st: st, now: time.Now()}
	w.reg = registry.New(registry.Config{SuspectAfter: 10 * time.Second, DeadAfter: 30 * time.Second, Now: func() time.Time { return w.now }})
	var recs []*pb.NodeRecord
	for _, n := range nodes {
		recs = append(recs, &pb.NodeRecord{Id: n, Addr: n + ":7001", Capacity: 1 << 30})
	}
	w.reg.Load(recs)
	return w
}

func (w *world) Propose(_ context.Context, cmd *pb.Command) (proto.Message, error) {
	w.idx++
	cmd.NowNs = w.now.UnixNano()
	r, _ := w.st.Apply(w.idx, cmd)
	return r.Resp, r.Err
}

func (w *world) IsLeader() bool { return true }

// commit stores a one-chunk file whose chunk lives on nodes.
func (w *world) commit(path string, id cairn.ChunkID, nodes ...string) {
	w.t.Helper()
	_, err := w.Propose(context.Background(), &pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: path, Replication: 3,
		Chunks: []*pb.StoredChunk{{Chunk: &pb.ChunkRef{Id: id[:], Length: 10}, Nodes: nodes}}}}})
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) healer() *Healer {
	return New(Config{DefaultReplication: 3, MaxWriteAge: time.Hour, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return w.now }},
		Deps{Proposer: w, Leader: w, Nodes: w.reg, State: w.st})
}

// TestRepairScanCountsLeavingReplicas: a chunk with a replica on a
// leaving node needs no copy, and the leaving replica is not a source.
func TestRepairScanCountsLeavingReplicas(t *testing.T) {
	w := newWorld(t, "n1", "n2", "n3")
	id := cairn.NewChunkID()
	w.commit("/f", id, "n1", "n2", "n3")
	w.reg.Leave("n3")
	var got []candidate
	v := w.st.View()
	defer v.Close()
	if err := scan(v, w.reg, 3, func(c candidate) bool { got = append(got, c); return true }); err != nil {
		t.Fatal(err)
	}
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

// TestReconcileKeepsYoungAndLiveChunks: a node may delete surplus copies,
// released chunks and unknown chunks older than MaxWriteAge, never a live
// replica or a chunk whose write may still commit. Time is the healer's
// clock, not the wall clock.
func TestReconcileKeepsYoungAndLiveChunks(t *testing.T) {
	w := newWorld(t, "n1", "n2")
	h := w.healer()
	live, surplus, young := cairn.NewChunkID(), cairn.NewChunkID(), cairn.NewChunkID()
	w.commit("/live", live, "n1")
	w.commit("/surplus", surplus, "n2")
	ask := func() []cairn.ChunkID {
		t.Helper()
		del, err := h.Reconcile("n1", [][]byte{live[:], surplus[:], young[:]})
		if err != nil {
			t.Fatal(err)
		}
		var out []cairn.ChunkID
		for _, raw := range del {
			id, _ := cairn.ChunkIDFromBytes(raw)
			out = append(out, id)
		}
		return out
	}
	if got := ask(); !slices.Equal(got, []cairn.ChunkID{surplus}) {
		t.Errorf("delete = %v, want only the surplus copy %v", got, surplus)
	}
	w.now = w.now.Add(2 * time.Hour) // the young chunk's write can no longer commit
	if got := ask(); !slices.Equal(got, []cairn.ChunkID{surplus, young}) {
		t.Errorf("two hours later delete = %v, want %v and %v", got, surplus, young)
	}
}

// fakeTransfer records copies and deletes instead of calling data nodes.
type fakeTransfer struct {
	mu     sync.Mutex
	copies []string // "id target<-source"
}

func (f *fakeTransfer) Copy(_ context.Context, id cairn.ChunkID, _ int64, target, source string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copies = append(f.copies, id.String()+" "+target+"<-"+source)
	return nil
}

func (f *fakeTransfer) Delete(context.Context, string, cairn.ChunkID) error { return nil }

// TestRepairReplacesDeadReplica: once a node is dead by the registry's
// clock (no sleeping), a round copies its chunk from a healthy replica to
// the one node left and drops the dead replica from the location map.
func TestRepairReplacesDeadReplica(t *testing.T) {
	w := newWorld(t, "n1", "n2", "n3", "n4")
	tr := &fakeTransfer{}
	h := New(Config{DefaultReplication: 3, RepairConcurrency: 2, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return w.now }},
		Deps{Proposer: w, Leader: w, Nodes: w.reg, State: w.st, Transfer: tr})
	id := cairn.NewChunkID()
	w.commit("/f", id, "n1", "n2", "n3")
	w.now = w.now.Add(31 * time.Second)
	for _, n := range []string{"n1", "n2", "n4"} {
		w.reg.Heartbeat(&pb.HeartbeatRequest{Id: n, Addr: n + ":7001", Capacity: 1 << 30, Healthy: true})
	}
	repairer{h}.round(context.Background())
	if len(tr.copies) != 1 || !strings.HasPrefix(tr.copies[0], id.String()+" n4:7001<-n") {
		t.Fatalf("copies = %v, want one to n4 from a healthy replica", tr.copies)
	}
	v := w.st.View()
	defer v.Close()
	rec, ok, err := v.Chunk(id)
	if err != nil || !ok {
		t.Fatalf("chunk record: %v %v", ok, err)
	}
	got := slices.Sorted(slices.Values(rec.Nodes))
	if !slices.Equal(got, []string{"n1", "n2", "n4"}) {
		t.Errorf("replicas after repair = %v, want n1 n2 n4", got)
	}
	if st := h.Status(); st.Repaired != 1 || st.Failed != 0 || st.InFlight != 0 {
		t.Errorf("status = %v", st)
	}
}
