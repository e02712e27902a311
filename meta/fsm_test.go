package meta

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

func newTestFSM(t *testing.T) (*fsm, *int) {
	t.Helper()
	st, err := state.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	changed := new(int)
	return &fsm{st: st, nodesChanged: func() { *changed++ }}, changed
}

func logEntry(t *testing.T, index uint64, cmd *pb.Command) *raft.Log {
	t.Helper()
	data, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: data}
}

func mkdir(path string) *pb.Command {
	return &pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: path}}}
}

// TestFSMApplyBatch: commands give state.Results, entries without a
// command and replayed entries give nil, an undecodable entry is Internal
// and still advances the index, and the registry hears of new nodes once
// per batch.
func TestFSMApplyBatch(t *testing.T) {
	f, changed := newTestFSM(t)
	reg := &pb.Command{Op: &pb.Command_RegisterNode{RegisterNode: &pb.RegisterNodeRequest{Id: "n1", Addr: "h:1"}}}
	logs := []*raft.Log{
		logEntry(t, 1, mkdir("/a")),
		logEntry(t, 2, mkdir("/a")), // fails: exists
		{Index: 3, Type: raft.LogNoop},
		{Index: 4, Type: raft.LogCommand, Data: []byte{0xff, 0xff, 0xff}},
		logEntry(t, 5, reg),
		logEntry(t, 6, reg),
	}
	out := f.ApplyBatch(logs)
	if r, ok := out[0].(state.Result); !ok || r.Err != nil {
		t.Errorf("mkdir: %v", out[0])
	}
	if r, _ := out[1].(state.Result); !errors.Is(r.Err, cairn.Exists) {
		t.Errorf("second mkdir: %v, want Exists", out[1])
	}
	if out[2] != nil {
		t.Errorf("no-op entry gave %v", out[2])
	}
	if r, _ := out[3].(state.Result); !errors.Is(r.Err, cairn.Internal) {
		t.Errorf("undecodable entry: %v, want Internal", out[3])
	}
	if got := f.st.AppliedIndex(); got != 6 {
		t.Errorf("AppliedIndex = %d, want 6", got)
	}
	if *changed != 1 {
		t.Errorf("nodes changed %d times, want once for the batch", *changed)
	}
	// Replayed after a restart: nothing applies, nothing is reported.
	for i, r := range f.ApplyBatch(logs) {
		if r != nil {
			t.Errorf("replayed entry %d gave %v", i, r)
		}
	}
	if r := f.Apply(logs[0]); r != nil {
		t.Errorf("Apply(old entry) = %v", r)
	}
	if *changed != 1 {
		t.Errorf("replay reported node changes")
	}
}

// memSink is a raft.SnapshotSink that keeps the snapshot in memory.
type memSink struct {
	bytes.Buffer
	closed, canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	src, _ := newTestFSM(t)
	src.ApplyBatch([]*raft.Log{logEntry(t, 1, mkdir("/a")), logEntry(t, 2, mkdir("/a/b"))})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.canceled || sink.Len() == 0 {
		t.Fatalf("sink closed %v canceled %v, %d bytes", sink.closed, sink.canceled, sink.Len())
	}
	dst, changed := newTestFSM(t)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if *changed != 1 {
		t.Errorf("restore told the registry %d times, want 1", *changed)
	}
	if dst.st.AppliedIndex() != 2 {
		t.Errorf("restored AppliedIndex %d, want 2", dst.st.AppliedIndex())
	}
	if _, err := dst.st.Latest().Stat("/a/b"); err != nil {
		t.Errorf("restored state lacks /a/b: %v", err)
	}
	// A truncated snapshot fails and does not report a change.
	bad, changed := newTestFSM(t)
	if err := bad.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()[:sink.Len()/2]))); !errors.Is(err, cairn.Corrupt) {
		t.Errorf("truncated restore: %v, want Corrupt", err)
	}
	if *changed != 0 {
		t.Errorf("failed restore told the registry")
	}
}

// failSink fails every write.
type failSink struct{ memSink }

func (s *failSink) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestFSMPersistCancelsOnError(t *testing.T) {
	f, _ := newTestFSM(t)
	f.ApplyBatch([]*raft.Log{logEntry(t, 1, mkdir("/a"))})
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &failSink{}
	if err := snap.Persist(sink); err == nil || !sink.canceled || sink.closed {
		t.Errorf("Persist into a failing sink: err %v, canceled %v, closed %v", err, sink.canceled, sink.closed)
	}
}
