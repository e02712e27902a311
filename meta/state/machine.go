package state

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
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Machine is the namespace state machine: it applies committed commands to
// a Pebble database and answers reads from it. It knows nothing of Raft or
// the network; the Raft server feeds it committed entries in log order and
// the front end reads through View and Latest.
//
// Writes go to Pebble without fsync: the replicated log is the durable
// record. Each command's batch stores the index it applied, and Snapshot
// syncs Pebble before it reports an index, so on restart the database is
// never behind the latest snapshot and re-applied entries are recognised
// and skipped.
type Machine struct {
	db      *pebble.DB
	log     *slog.Logger
	applied atomic.Uint64
}

// Result is what Apply returns for one command: the response message the
// proposer gets back, or the error that left the state unchanged.
type Result struct {
	Resp proto.Message
	Err  error
}

// Open opens (or creates) the Pebble database in dir. It fails with
// Internal when the database cannot be opened or its applied index cannot
// be read.
func Open(dir string, log *slog.Logger) (*Machine, error) {
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
	m := &Machine{db: db, log: log}
	applied, err := getUint64(db, []byte(keyApplied))
	if err != nil {
		db.Close()
		return nil, err
	}
	m.applied.Store(applied)
	return m, nil
}

// AppliedIndex is the last log index reflected in the database.
func (m *Machine) AppliedIndex() uint64 { return m.applied.Load() }

// Close closes the database.
func (m *Machine) Close() error { return m.db.Close() }

// View returns a consistent, point-in-time view of the state; a long scan
// through it sees one state however many commands apply meanwhile. The
// caller must Close it.
func (m *Machine) View() *View {
	snap := m.db.NewSnapshot()
	return &View{r: snap, close: snap.Close}
}

// Latest returns a view that reads the live database: each read sees
// everything applied before it. Closing it is optional.
func (m *Machine) Latest() *View { return &View{r: m.db} }

// Apply applies cmd, the command of committed log entry index, in its own
// indexed Pebble batch, so that a command that fails half-way leaves
// nothing behind, and records index with it. A nil cmd (a log entry that
// carries no command) only advances the applied index. An entry at or
// below AppliedIndex was applied before a restart: Apply skips it and
// reports false.
//
// A command that fails returns its error in the Result and changes
// nothing. Apply panics when Pebble cannot commit: the state machine
// cannot continue without its database.
func (m *Machine) Apply(index uint64, cmd *pb.Command) (Result, bool) {
	if index <= m.applied.Load() {
		return Result{}, false
	}
	b := m.db.NewIndexedBatch()
	defer b.Close()
	var res Result
	if cmd != nil {
		var again bool
		if res, again = rememberedResult(b, cmd); !again {
			t := &tx{b: b, now: cmd.NowNs, who: principal{cmd.Caller}}
			res.Resp, res.Err = t.apply(cmd)
			if res.Err != nil {
				b.Reset()
			}
			if err := rememberResult(b, cmd, res); err != nil {
				panic(fmt.Sprintf("meta: cannot record the result of entry %d: %v", index, err))
			}
		}
	}
	if err := putUint64(b, []byte(keyApplied), index); err != nil {
		panic(fmt.Sprintf("meta: cannot record applied index: %v", err))
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		panic(fmt.Sprintf("meta: committing entry %d to Pebble: %v", index, err))
	}
	m.applied.Store(index)
	return res, true
}

// Snapshot syncs Pebble, so that the database on disk is at least as new
// as the snapshot, and takes a consistent view to stream with WriteTo. It
// fails with Internal when the sync fails. The caller must Release it.
func (m *Machine) Snapshot() (*Snapshot, error) {
	if err := m.db.LogData(nil, pebble.Sync); err != nil {
		return nil, cairn.E("meta.snapshot", cairn.Internal, err)
	}
	return &Snapshot{snap: m.db.NewSnapshot()}, nil
}

// Snapshot is a point-in-time copy of the whole state, for the replicated
// log's snapshots.
type Snapshot struct{ snap *pebble.Snapshot }

// WriteTo writes every key and value as uvarint-length-prefixed pairs. An
// error (Internal) means w got an incomplete stream.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
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
			if _, err := bw.Write(hdr[:n]); err != nil {
				return err
			}
			if _, err := bw.Write(it.Key()); err != nil {
				return err
			}
			if _, err := bw.Write(it.Value()); err != nil {
				return err
			}
		}
		if err := it.Error(); err != nil {
			return err
		}
		return bw.Flush()
	}()
	if err != nil {
		return cw.n, cairn.E("meta.snapshot", cairn.Internal, err)
	}
	return cw.n, nil
}

// Release frees the snapshot's view of the database.
func (s *Snapshot) Release() { s.snap.Close() }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Restore replaces the whole database with a stream written by
// Snapshot.WriteTo. A truncated or malformed stream is Corrupt and leaves
// an applied index that makes a restarted peer restore again; a failing
// database is Internal.
func (m *Machine) Restore(rd io.Reader) error {
	if err := m.db.DeleteRange([]byte{0}, []byte{0xff}, pebble.NoSync); err != nil {
		return cairn.E("meta.restore", cairn.Internal, err)
	}
	r := bufio.NewReaderSize(rd, 1<<20)
	b := m.db.NewBatch()
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
		if string(kv[:klen]) == keyApplied {
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
			b = m.db.NewBatch()
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return cairn.E("meta.restore", cairn.Internal, err)
	}
	if applied != nil {
		if err := m.db.Set([]byte(keyApplied), applied, pebble.Sync); err != nil {
			return cairn.E("meta.restore", cairn.Internal, err)
		}
	}
	idx, err := getUint64(m.db, []byte(keyApplied))
	if err != nil {
		return err
	}
	m.applied.Store(idx)
	m.log.Info("restored metadata from snapshot", "applied_index", idx)
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
