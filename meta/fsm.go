package meta

import (
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// fsm makes the state machine a raft.FSM and raft.BatchingFSM: it decodes
// log entries into commands, hands them to state.Machine in log order, and
// tells the registry when data nodes changed.
type fsm struct {
	st *state.Machine
	// nodesChanged, if set, is called after a batch that registered or
	// drained a data node, and after a restore. It must not block.
	nodesChanged func()
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM. Each entry's result is a
// state.Result; entries without a command (and entries applied before a
// restart, which the state machine skips) give nil.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	changed := false
	for i, l := range logs {
		if l.Index <= f.st.AppliedIndex() {
			continue // applied before a restart
		}
		var cmd *pb.Command
		if l.Type == raft.LogCommand {
			cmd = &pb.Command{}
			if err := proto.Unmarshal(l.Data, cmd); err != nil {
				out[i] = state.Result{Err: cairn.E("meta.apply", cairn.Internal, fmt.Errorf("entry %d: %w", l.Index, err))}
				cmd = nil
			}
		}
		res, applied := f.st.Apply(l.Index, cmd)
		if !applied || cmd == nil {
			continue
		}
		out[i] = res
		switch cmd.Op.(type) {
		case *pb.Command_RegisterNode, *pb.Command_Drain:
			changed = true
		}
	}
	if changed && f.nodesChanged != nil {
		f.nodesChanged()
	}
	return out
}

// Snapshot implements raft.FSM: the state machine syncs and takes a
// point-in-time view, streamed later by Persist.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	snap, err := f.st.Snapshot()
	if err != nil {
		return nil, err
	}
	return fsmSnapshot{snap}, nil
}

// Restore implements raft.FSM: it replaces the whole state with the
// snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.st.Restore(rc); err != nil {
		return err
	}
	if f.nodesChanged != nil {
		f.nodesChanged()
	}
	return nil
}

// fsmSnapshot is a raft.FSMSnapshot over a state snapshot.
type fsmSnapshot struct{ snap *state.Snapshot }

// Persist streams the snapshot into sink, cancelling it on failure.
func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		if cerr := sink.Cancel(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return err
	}
	return sink.Close()
}

// Release frees the snapshot.
func (s fsmSnapshot) Release() { s.snap.Release() }
