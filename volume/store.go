package volume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cairnfs/cairn"
)

// Options configures a Store. The zero value of every field except Dir
// selects its default.
type Options struct {
	Dir           string       // directory holding volume files; created if missing
	MaxVolumeSize int64        // roll to a new volume file past this size; default 1 GiB
	BlockSize     int          // CRC sub-block size for new chunks, a power of two from 512 B to 16 MiB; default 64 KiB
	Logger        *slog.Logger // default slog.Default()
	FS            FS           // opens volume files; default OSFS (for fault injection in tests)

	// EncryptionKey, if set, is the EncryptionKeySize-byte key-encryption
	// key: new volumes are encrypted under random data keys sealed with
	// it, and encrypted volumes need it to open. Volumes written without
	// a key stay readable.
	EncryptionKey []byte

	// CompactRatio is the share of garbage (VolumeStats.GarbageBytes /
	// DiskBytes, not counting tombstones a compaction had to keep) past
	// which the background compactor rewrites a sealed volume; in (0, 1],
	// default 0.5.
	CompactRatio float64
	// CompactInterval is how often the background compactor looks for
	// volumes to compact; 0 selects the default of one minute, a negative
	// value disables background compaction (Compact and CompactAll still work).
	CompactInterval time.Duration
}

// Defaults for Options.
const (
	DefaultMaxVolumeSize   = 1 << 30
	DefaultBlockSize       = 64 << 10
	DefaultCompactRatio    = 0.5
	DefaultCompactInterval = time.Minute
)

func (o *Options) validate() error {
	if o.Dir == "" {
		return errors.New("Options.Dir is empty; name the directory that holds the volume files")
	}
	if o.MaxVolumeSize == 0 {
		o.MaxVolumeSize = DefaultMaxVolumeSize
	}
	if o.MaxVolumeSize <= superblockSize {
		return fmt.Errorf("Options.MaxVolumeSize %d is too small; use at least a few MiB", o.MaxVolumeSize)
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.BlockSize&(o.BlockSize-1) != 0 || o.BlockSize < 1<<minBlockLog || o.BlockSize > 1<<maxBlockLog {
		return fmt.Errorf("Options.BlockSize %d is not a power of two from %d to %d", o.BlockSize, 1<<minBlockLog, 1<<maxBlockLog)
	}
	if o.CompactRatio == 0 {
		o.CompactRatio = DefaultCompactRatio
	}
	if !(o.CompactRatio > 0 && o.CompactRatio <= 1) {
		return fmt.Errorf("Options.CompactRatio %v is outside (0, 1]", o.CompactRatio)
	}
	if o.CompactInterval == 0 {
		o.CompactInterval = DefaultCompactInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.EncryptionKey != nil && len(o.EncryptionKey) != EncryptionKeySize {
		return fmt.Errorf("Options.EncryptionKey is %d bytes, want %d", len(o.EncryptionKey), EncryptionKeySize)
	}
	return nil
}

// ChunkInfo describes one stored chunk.
type ChunkInfo struct {
	ID        cairn.ChunkID
	Length    int64  // data bytes
	CRC       uint32 // CRC32C of the whole data
	BlockSize int    // CRC sub-block size the chunk was stored with
	Volume    int    // number of the volume file holding it
	Offset    int64  // offset of its record in the volume file
}

// Stats summarises a Store.
type Stats struct {
	Chunks       int64 // live chunks
	LiveBytes    int64 // data bytes of live chunks
	GarbageBytes int64 // bytes of records a compaction can reclaim: deleted, superseded or damaged records and tombstones
	Volumes      int   // volume files
	DiskBytes    int64 // total size of the volume files
}

// entry is the index record of one live chunk.
type entry struct {
	vol      int
	off      int64 // record offset in the volume
	length   int64
	seq      uint64
	crc      uint32
	blockLog uint8
	sealed   bool
}

func (e entry) header(id cairn.ChunkID) header {
	return header{kind: kindChunk, blockLog: e.blockLog, id: id, length: e.length, seq: e.seq, crc: e.crc, sealed: e.sealed}
}

func (e entry) info(id cairn.ChunkID) ChunkInfo {
	return ChunkInfo{ID: id, Length: e.length, CRC: e.crc, BlockSize: 1 << e.blockLog, Volume: e.vol, Offset: e.off}
}

// Store is a directory of volume files plus the index over them. All methods
// are safe for concurrent use.
type Store struct {
	dir      string
	maxSize  int64
	blockLog uint8
	log      *slog.Logger
	fs       FS

	imu     sync.RWMutex
	index   map[cairn.ChunkID]entry
	pending map[cairn.ChunkID]chan struct{} // IDs with a Put or Delete in flight
	vols    map[int]*volFile
	live    int64 // sum of entry.length
	dead    deadRecords

	wmu     sync.Mutex // serialises appends
	active  *volFile   // nil until the first append needs one
	nextVol int
	seq     uint64 // last sequence number handed out; guarded by wmu

	commit committer

	compactMu    sync.Mutex // serialises compactions
	compactRatio float64
	kek          *kek                   // nil: new volumes are not encrypted
	hook         func(failpoint string) // tests only; see failpoint

	cmu      sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	bufs     sync.Pool          // *[]byte scratch buffers for unaligned reads
	stop     context.Context    // cancelled by Close: ends background work and running compactions
	cancel   context.CancelFunc // cancels stop
	bg       sync.WaitGroup     // the background compactor
}

// Open opens the store in opts.Dir, creating the directory if needed, and
// recovers every volume in it: torn records at the end of a volume are
// truncated away (and logged), damaged records in the middle are skipped
// and logged, and the index is rebuilt. It fails with cairn.Invalid for bad
// options, cairn.Corrupt if a volume's superblock is unreadable (move that
// file aside to start without it), and an I/O error if the directory or a
// volume cannot be read.
func Open(opts Options) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, cairn.E("volume.open", cairn.Invalid, err)
	}
	s := &Store{
		dir:      opts.Dir,
		maxSize:  opts.MaxVolumeSize,
		log:      opts.Logger.With("component", "volume", "dir", opts.Dir),
		fs:       opts.FS,
		index:    make(map[cairn.ChunkID]entry),
		pending:  make(map[cairn.ChunkID]chan struct{}),
		vols:     make(map[int]*volFile),
		dead:     make(deadRecords),
		nextVol:  1,
		blockLog: uint8(log2(opts.BlockSize)),

		compactRatio: opts.CompactRatio,
	}
	if opts.EncryptionKey != nil {
		k, err := newKEK(opts.EncryptionKey)
		if err != nil {
			return nil, cairn.E("volume.open", cairn.Invalid, err)
		}
		s.kek = k
	}
	s.commit.init()
	if err := s.recover(); err != nil {
		return nil, errors.Join(err, s.closeFiles())
	}
	s.stop, s.cancel = context.WithCancel(context.Background())
	if opts.CompactInterval > 0 {
		s.bg.Add(1)
		go s.compactLoop(opts.CompactInterval)
	}
	return s, nil
}

func log2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// enter registers an operation so Close waits for it; false once closed.
func (s *Store) enter() bool {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

func errClosed(op string) error {
	return cairn.E(op, cairn.Unavailable, errors.New("store is closed"))
}

func pathOf(id cairn.ChunkID) cairn.PathArg { return cairn.PathArg(id.String()) }

// Close stops the background compactor and cancels running compactions
// (they leave the store as it was before them), waits for in-flight
// operations, syncs the active volume and closes every file. Calls after
// the first return nil. The returned error is the first sync or close
// failure; operations after Close fail with cairn.Unavailable.
func (s *Store) Close() error {
	s.cmu.Lock()
	if s.closed {
		s.cmu.Unlock()
		return nil
	}
	s.closed = true
	s.cmu.Unlock()
	s.cancel()
	s.bg.Wait()
	s.inflight.Wait()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if s.active != nil && s.commit.failure() == nil {
		err = s.active.f.Sync()
	}
	if cerr := s.closeFiles(); err == nil {
		err = cerr
	}
	if err != nil {
		return cairn.E("volume.close", fmt.Errorf("%s: %w", s.dir, err))
	}
	return nil
}

func (s *Store) closeFiles() error {
	var first error
	for _, v := range s.vols {
		if err := v.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// lookup returns the index entry of id.
func (s *Store) lookup(id cairn.ChunkID) (entry, bool) {
	s.imu.RLock()
	defer s.imu.RUnlock()
	e, ok := s.index[id]
	return e, ok
}

// acquire returns the index entry of id and its volume, holding a reference
// on the volume so that a compaction neither closes nor deletes the file
// until the caller calls v.refs.Done().
func (s *Store) acquire(id cairn.ChunkID) (entry, *volFile, bool) {
	s.imu.RLock()
	defer s.imu.RUnlock()
	e, ok := s.index[id]
	if !ok {
		return e, nil, false
	}
	v := s.vols[e.vol]
	if v == nil { // cannot happen: compaction moves entries before it drops a volume
		return e, nil, false
	}
	v.refs.Add(1)
	return e, v, true
}

func notFound(op string, id cairn.ChunkID) error {
	return cairn.E(op, pathOf(id), cairn.NotFound, errors.New("no such chunk on this node; read it from another replica"))
}

// Stat returns what the store knows about chunk id without reading it. A
// missing chunk is a cairn.NotFound error.
func (s *Store) Stat(id cairn.ChunkID) (ChunkInfo, error) {
	e, ok := s.lookup(id)
	if !ok {
		return ChunkInfo{}, notFound("volume.stat", id)
	}
	return e.info(id), nil
}

// Walk calls fn for every live chunk, in no particular order, until fn
// returns false. It works on a snapshot of the index, so fn may call any
// method of the store; chunks put or deleted during the walk may or may not
// be seen.
func (s *Store) Walk(fn func(ChunkInfo) bool) {
	s.imu.RLock()
	infos := make([]ChunkInfo, 0, len(s.index))
	for id, e := range s.index {
		infos = append(infos, e.info(id))
	}
	s.imu.RUnlock()
	for _, ci := range infos {
		if !fn(ci) {
			return
		}
	}
}

// Stats returns the current totals. It never fails.
func (s *Store) Stats() Stats {
	s.imu.RLock()
	defer s.imu.RUnlock()
	st := Stats{Chunks: int64(len(s.index)), LiveBytes: s.live, Volumes: len(s.vols)}
	var liveRecords int64
	for _, v := range s.vols {
		size := v.size.Load()
		st.DiskBytes += size
		liveRecords += v.liveRecords + v.start
	}
	st.GarbageBytes = st.DiskBytes - liveRecords
	return st
}

// VolumeStats describes one volume file, for choosing compaction victims.
type VolumeStats struct {
	Volume       int
	Path         string
	DiskBytes    int64
	GarbageBytes int64
	Active       bool // the volume new records are appended to
}

// Volumes returns per-volume statistics in no particular order. It never fails.
func (s *Store) Volumes() []VolumeStats {
	s.wmu.Lock()
	active := s.active
	s.wmu.Unlock()
	s.imu.RLock()
	defer s.imu.RUnlock()
	out := make([]VolumeStats, 0, len(s.vols))
	for _, v := range s.vols {
		size := v.size.Load()
		out = append(out, VolumeStats{Volume: v.num, Path: v.path, DiskBytes: size,
			GarbageBytes: size - v.start - v.liveRecords, Active: v == active})
	}
	return out
}

// claim waits until no other Put or Delete of id is in flight, then marks
// id as in flight and returns its current entry, if any. The caller must
// call s.release(id, ...) exactly once.
func (s *Store) claim(id cairn.ChunkID) (entry, bool) {
	for {
		s.imu.Lock()
		ch, busy := s.pending[id]
		if !busy {
			s.pending[id] = make(chan struct{})
			e, ok := s.index[id]
			s.imu.Unlock()
			return e, ok
		}
		s.imu.Unlock()
		<-ch
	}
}

// release ends the claim on id, first applying change (if not nil) to the
// index under the lock.
func (s *Store) release(id cairn.ChunkID, change func()) {
	s.imu.Lock()
	if change != nil {
		change()
	}
	ch := s.pending[id]
	delete(s.pending, id)
	s.imu.Unlock()
	close(ch)
}
