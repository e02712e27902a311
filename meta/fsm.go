package meta

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// FSM is the namespace state machine: it applies committed Raft entries to a
// Pebble database. It knows nothing of the network; the gRPC front end
// (Service) proposes commands and reads through it.
//
// Writes go to Pebble without fsync: the Raft log is the durable record.
// Each batch stores the index it applied up to, and Snapshot syncs Pebble
// before it reports an index, so on restart the database is never behind the
// latest snapshot and re-applied entries are recognised and skipped.
type FSM struct {
	db      *pebble.DB
	log     *slog.Logger
	applied atomic.Uint64

	// OnApply, if set, is called after each batch with the commands applied
	// (used by the registry to notice new nodes). It must not block.
	OnApply func(cmds []*pb.Command)
}

// Result is what Apply returns for one command.
type Result struct {
	Resp proto.Message
	Err  error
}

// OpenFSM opens (or creates) the Pebble database in dir.
func OpenFSM(dir string, log *slog.Logger) (*FSM, error) {
	opts := &pebble.Options{Logger: pebbleLogger{log}}
	// Bloom filters: most point lookups (is this chunk ID already used? does
	// this name exist?) are for keys that are absent.
	opts.Levels = make([]pebble.LevelOptions, 7)
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].FilterType = pebble.TableFilter
	}
	opts.EnsureDefaults()
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, cairn.E("meta.open", cairn.Internal, fmt.Errorf("opening metadata database in %s: %w", dir, err))
	}
	f := &FSM{db: db, log: log}
	applied, err := getUint64(db, keyApplied)
	if err != nil {
		db.Close()
		return nil, err
	}
	f.applied.Store(applied)
	return f, nil
}

// AppliedIndex is the last Raft index reflected in the database.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Close closes the database.
func (f *FSM) Close() error { return f.db.Close() }

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: all entries go into one Pebble
// batch. Entries at or below the applied index were applied before a restart
// and are skipped.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	var cmds []*pb.Command
	for i, l := range logs {
		if l.Index <= f.applied.Load() {
			continue // applied before a restart
		}
		var cmd *pb.Command
		if l.Type == raft.LogCommand {
			cmd = &pb.Command{}
			if err := proto.Unmarshal(l.Data, cmd); err != nil {
				out[i] = Result{Err: cairn.E("meta.apply", cairn.Internal, fmt.Errorf("entry %d: %w", l.Index, err))}
				cmd = nil
			}
		}
		res := f.applyOne(l.Index, cmd)
		if cmd != nil {
			out[i] = res
			cmds = append(cmds, cmd)
		}
	}
	if f.OnApply != nil && len(cmds) > 0 {
		f.OnApply(cmds)
	}
	return out
}

// applyOne applies one command in its own batch, so that a command that
// fails half-way leaves nothing behind, and records the applied index with
// it. A nil cmd only advances the index.
func (f *FSM) applyOne(index uint64, cmd *pb.Command) Result {
	b := f.db.NewIndexedBatch()
	defer b.Close()
	var res Result
	if cmd != nil {
		t := &tx{b: b, now: cmd.NowNs}
		res.Resp, res.Err = t.apply(cmd)
		if res.Err != nil {
			b.Reset()
		}
	}
	if err := putUint64(b, keyApplied, index); err != nil {
		panic(fmt.Sprintf("meta: cannot record applied index: %v", err))
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		// The state machine cannot continue without its database.
		panic(fmt.Sprintf("meta: committing entry %d to Pebble: %v", index, err))
	}
	f.applied.Store(index)
	return res
}

func (t *tx) apply(cmd *pb.Command) (proto.Message, error) {
	switch op := cmd.Op.(type) {
	case *pb.Command_Mkdir:
		return wrapAttr(t.mkdir(op.Mkdir))
	case *pb.Command_Commit:
		return wrapAttr(t.commit(op.Commit))
	case *pb.Command_Rename:
		return &pb.Empty{}, t.rename(op.Rename)
	case *pb.Command_Remove:
		return t.remove(op.Remove)
	case *pb.Command_SetAttr:
		return wrapAttr(t.setAttr(op.SetAttr))
	case *pb.Command_RegisterNode:
		r := op.RegisterNode
		old := &pb.NodeRecord{}
		if _, err := getProto(t.b, nodeKey(cairn.NodeID(r.Id)), old); err != nil {
			return nil, err
		}
		return &pb.Empty{}, putProto(t.b, nodeKey(cairn.NodeID(r.Id)), &pb.NodeRecord{Id: r.Id, Addr: r.Addr, Zone: r.Zone, Rack: r.Rack,
			Capacity: r.Capacity, RegisteredNs: t.now, Draining: old.Draining})
	case *pb.Command_Drain:
		rec := &pb.NodeRecord{}
		ok, err := getProto(t.b, nodeKey(cairn.NodeID(op.Drain.Node)), rec)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, cairn.E("drain", cairn.PathArg(op.Drain.Node), cairn.NotFound, errors.New("no such data node"))
		}
		rec.Draining = !op.Drain.Undo
		return &pb.Empty{}, putProto(t.b, nodeKey(cairn.NodeID(op.Drain.Node)), rec)
	case *pb.Command_CreateUpload:
		return t.createUpload(cmd.UploadId, op.CreateUpload)
	case *pb.Command_AddUploadChunks:
		return &pb.Empty{}, t.addUploadChunks(op.AddUploadChunks)
	case *pb.Command_CompleteUpload:
		return wrapAttr(t.completeUpload(op.CompleteUpload))
	case *pb.Command_AbortUpload:
		return &pb.Empty{}, t.abortUpload(op.AbortUpload)
	case *pb.Command_UpdateLocations:
		return &pb.Empty{}, t.updateLocations(op.UpdateLocations)
	case *pb.Command_GarbageDone:
		return &pb.Empty{}, t.garbageDone(op.GarbageDone)
	case *pb.Command_PutUploadPart:
		return t.putUploadPart(op.PutUploadPart)
	case *pb.Command_CompleteMultipart:
		return wrapAttr(t.completeMultipart(op.CompleteMultipart))
	case *pb.Command_Nest:
		return wrapAttr(t.nest(op.Nest))
	case *pb.Command_PutS3User:
		return &pb.Empty{}, t.putS3User(op.PutS3User)
	case *pb.Command_DeleteS3User:
		return &pb.Empty{}, t.deleteS3User(op.DeleteS3User)
	case *pb.Command_PeerInfo:
		if op.PeerInfo.Removed {
			return &pb.Empty{}, t.b.Delete(peerKey(op.PeerInfo.Id), nil)
		}
		return &pb.Empty{}, putProto(t.b, peerKey(op.PeerInfo.Id), op.PeerInfo)
	}
	return nil, cairn.E("meta.apply", cairn.Internal, fmt.Errorf("unknown command %T", cmd.Op))
}

func wrapAttr(a *pb.Attr, err error) (proto.Message, error) {
	if err != nil {
		return nil, err
	}
	return &pb.StatResponse{Attr: a}, nil
}

// Snapshot implements raft.FSM. It syncs Pebble so the database on disk is
// at least as new as the snapshot, then streams a consistent view.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.db.LogData(nil, pebble.Sync); err != nil {
		return nil, cairn.E("meta.snapshot", cairn.Internal, err)
	}
	return &fsmSnapshot{snap: f.db.NewSnapshot()}, nil
}

type fsmSnapshot struct{ snap *pebble.Snapshot }

// Persist writes every key and value as uvarint-length-prefixed pairs.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	err := func() error {
		it, err := s.snap.NewIter(nil)
		if err != nil {
			return err
		}
		defer it.Close()
		var hdr [2 * binary.MaxVarintLen64]byte
		for it.First(); it.Valid(); it.Next() {
			n := binary.PutUvarint(hdr[:], uint64(len(it.Key())))
			n += binary.PutUvarint(hdr[n:], uint64(len(it.Value())))
			if _, err := w.Write(hdr[:n]); err != nil {
				return err
			}
			if _, err := w.Write(it.Key()); err != nil {
				return err
			}
			if _, err := w.Write(it.Value()); err != nil {
				return err
			}
		}
		if err := it.Error(); err != nil {
			return err
		}
		return w.Flush()
	}()
	if err != nil {
		if cerr := sink.Cancel(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		return cairn.E("meta.snapshot", cairn.Internal, err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.snap.Close() }

// Restore implements raft.FSM: it replaces the whole database with the
// snapshot's contents.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := f.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.NoSync); err != nil {
		return cairn.E("meta.restore", cairn.Internal, err)
	}
	r := bufio.NewReaderSize(rc, 1<<20)
	b := f.db.NewBatch()
	// The applied index is written last, after everything else is synced,
	// so a crash in the middle of a restore leaves an index that forces the
	// restore to run again.
	var applied []byte
	for {
		klen, err := binary.ReadUvarint(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return cairn.E("meta.restore", cairn.Corrupt, err)
		}
		vlen, err := binary.ReadUvarint(r)
		if err != nil {
			return cairn.E("meta.restore", cairn.Corrupt, err)
		}
		kv := make([]byte, klen+vlen)
		if _, err := io.ReadFull(r, kv); err != nil {
			return cairn.E("meta.restore", cairn.Corrupt, fmt.Errorf("truncated snapshot: %w", err))
		}
		if string(kv[:klen]) == string(keyApplied) {
			applied = kv[klen:]
			continue
		}
		if err := b.Set(kv[:klen], kv[klen:], nil); err != nil {
			return err
		}
		if b.Len() > 16<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				return cairn.E("meta.restore", cairn.Internal, err)
			}
			b = f.db.NewBatch()
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return cairn.E("meta.restore", cairn.Internal, err)
	}
	if applied != nil {
		if err := f.db.Set(keyApplied, applied, pebble.Sync); err != nil {
			return cairn.E("meta.restore", cairn.Internal, err)
		}
	}
	idx, err := getUint64(f.db, keyApplied)
	if err != nil {
		return err
	}
	f.applied.Store(idx)
	f.log.Info("restored metadata from snapshot", "applied_index", idx)
	if f.OnApply != nil {
		f.OnApply(nil)
	}
	return nil
}

// pebbleLogger routes Pebble's logging into slog.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}
