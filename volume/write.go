package volume

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cairnfs/cairn"
)

// volFile is one open volume file.
type volFile struct {
	num  int
	path string
	f    File
	seed uint32 // CRC32C of the volume's salt; every record CRC starts here
	// start is the offset of the first record (after the superblock and
	// an encrypted volume's key block).
	start int64
	// crypt is the data key of an encrypted volume; nil if not encrypted.
	crypt *volCrypt

	size        atomic.Int64 // end of the last valid record; appends go here
	liveRecords int64        // bytes of records of live chunks; guarded by Store.imu
	pinned      int64        // bytes of tombstones a compaction had to keep; guarded by Store.imu

	// refs counts readers using f (see Store.acquire); a compaction
	// waits for them before it closes and deletes the file.
	refs sync.WaitGroup
	// appends counts records appended to the volume whose Put or Delete
	// has not updated the index yet; a compaction waits for them, or it
	// would take a chunk not yet in the index for a deleted one.
	appends pendingAppends
}

// pendingAppends counts appends in flight; see volFile.appends.
type pendingAppends struct {
	n  atomic.Int64
	wg sync.WaitGroup
}

func (p *pendingAppends) add()       { p.n.Add(1); p.wg.Add(1) }
func (p *pendingAppends) done()      { p.n.Add(-1); p.wg.Done() }
func (p *pendingAppends) busy() bool { return p.n.Load() > 0 }

// volumeName is the file name of volume num.
func volumeName(num int) string { return fmt.Sprintf("%08d.vol", num) }

// inlineLimit is the largest record assembled into one buffer and written
// with one pwrite; larger ones are written in three parts without copying.
const inlineLimit = 256 << 10

// Put stores data under id and returns nil only after the bytes are fsynced.
// crc is the CRC32C of the whole data as computed by the sender.
//
// Failures: a crc that does not match data is cairn.Corrupt and nothing is
// stored; putting an id that exists with the same length and crc succeeds
// without writing (retries are idempotent), with other content it is
// cairn.Exists; a full disk is cairn.NoSpace, the partial record is cut off
// and the store stays usable; a data larger than MaxChunkSize is
// cairn.Invalid. If fdatasync fails the store stops accepting writes (their
// durability is unknown) and every later Put or Delete fails; reads go on.
// ctx is checked before writing; once the record is appended Put waits for
// its fsync.
func (s *Store) Put(ctx context.Context, id cairn.ChunkID, data []byte, crc uint32) error {
	const op = "volume.put"
	if err := ctx.Err(); err != nil {
		return cairn.E(op, pathOf(id), err)
	}
	if len(data) > MaxChunkSize {
		return cairn.E(op, pathOf(id), cairn.Invalid, fmt.Errorf("chunk is %d bytes, over the %d-byte limit; split it", len(data), MaxChunkSize))
	}
	crcs, got := blockCRCs(data, s.blockLog)
	if got != crc {
		return cairn.E(op, pathOf(id), cairn.Corrupt,
			fmt.Errorf("checksum mismatch: got crc %08x, sender said %08x; resend the chunk", got, crc))
	}
	if !s.enter() {
		return errClosed(op)
	}
	defer s.inflight.Done()

	old, exists := s.claim(id)
	if exists {
		s.release(id, nil)
		if old.length == int64(len(data)) && old.crc == crc {
			return nil
		}
		return cairn.E(op, pathOf(id), cairn.Exists, fmt.Errorf(
			"chunk already stored with length %d crc %08x, different from this one (length %d crc %08x); chunk IDs are never reused, allocate a new one",
			old.length, old.crc, len(data), crc))
	}
	h := header{kind: kindChunk, blockLog: s.blockLog, id: id, length: int64(len(data)), crc: crc}
	v, off, h, err := s.append(op, h, data, crcs)
	if err != nil {
		s.release(id, nil)
		return err
	}
	e := entry{vol: v.num, off: off, length: h.length, seq: h.seq, crc: crc, blockLog: h.blockLog, sealed: h.sealed}
	s.release(id, func() {
		s.index[id] = e
		s.live += e.length
		v.liveRecords += h.recordLen()
	})
	v.appends.done()
	return nil
}

// Delete appends a durable tombstone for id and drops it from the index.
// A missing chunk is cairn.NotFound; a full disk is cairn.NoSpace (the chunk
// stays); after a failed fdatasync Delete fails like Put.
func (s *Store) Delete(ctx context.Context, id cairn.ChunkID) error {
	const op = "volume.delete"
	if err := ctx.Err(); err != nil {
		return cairn.E(op, pathOf(id), err)
	}
	if !s.enter() {
		return errClosed(op)
	}
	defer s.inflight.Done()
	_, exists := s.claim(id)
	if !exists {
		s.release(id, nil)
		return notFound(op, id)
	}
	v, _, _, err := s.append(op, header{kind: kindTombstone, id: id}, nil, nil)
	if err != nil {
		s.release(id, nil)
		return err
	}
	s.release(id, func() {
		// A compaction may have moved the record since claim; it never
		// changes anything else about it.
		cur := s.index[id]
		delete(s.index, id)
		s.live -= cur.length
		if v := s.vols[cur.vol]; v != nil {
			v.liveRecords -= cur.header(id).recordLen()
		}
		s.dead.add(id, cur.vol)
	})
	v.appends.done()
	return nil
}

// append writes one record at the end of the active volume (rolling to a new
// volume first if it would pass the size limit) and waits until it is
// durable. It assigns h.seq and returns the volume, the record offset and
// the final header. On success the caller must call v.appends.done() once
// the index reflects the record.
func (s *Store) append(op string, h header, data []byte, crcs []uint32) (*volFile, int64, header, error) {
	s.wmu.Lock()
	if err := s.commit.failure(); err != nil {
		s.wmu.Unlock()
		return nil, 0, h, s.syncFailed(op, h.id, err)
	}
	h.sealed = h.kind == kindChunk && s.kek != nil
	n := h.recordLen()
	v, err := s.activeFor(n)
	if err != nil {
		s.wmu.Unlock()
		return nil, 0, h, s.writeFailed(op, h.id, err)
	}
	s.seq++
	h.seq = s.seq
	off := v.size.Load()
	v.appends.add()
	if err := writeRecord(v, off, h, data, crcs); err != nil {
		v.appends.done()
		if terr := v.f.Truncate(off); terr != nil {
			s.log.Error("cannot cut off a partial record; recovery will drop it at the next start",
				"volume", v.path, "offset", off, "err", terr)
		}
		s.wmu.Unlock()
		return nil, 0, h, s.writeFailed(op, h.id, err)
	}
	v.size.Store(off + n)
	ticket := s.commit.wrote(v.f)
	s.wmu.Unlock()

	if err := s.commit.wait(ticket); err != nil {
		v.appends.done()
		return nil, 0, h, s.syncFailed(op, h.id, err)
	}
	return v, off, h, nil
}

// writeRecord writes the encoded record at off in v.
func writeRecord(v *volFile, off int64, h header, data []byte, crcs []uint32) error {
	var hdr [headerSize]byte
	var tags []byte
	if h.sealed {
		data, tags = v.crypt.seal(h, data)
	}
	h.encode(hdr[:], v.seed)
	trailer := encodeTrailer(h, hdr[:], crcs, tags, v.seed)
	if h.recordLen() <= inlineLimit {
		buf := make([]byte, 0, h.recordLen())
		buf = append(append(append(buf, hdr[:]...), data...), trailer...)
		_, err := v.f.WriteAt(buf, off)
		return err
	}
	if _, err := v.f.WriteAt(hdr[:], off); err != nil {
		return err
	}
	if _, err := v.f.WriteAt(data, off+headerSize); err != nil {
		return err
	}
	_, err := v.f.WriteAt(trailer, off+headerSize+int64(len(data)))
	return err
}

func (s *Store) writeFailed(op string, id cairn.ChunkID, err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return cairn.E(op, pathOf(id), cairn.NoSpace,
			fmt.Errorf("disk holding %s is full (%v); free space there or add disks, the store keeps serving reads", s.dir, err))
	}
	return cairn.E(op, pathOf(id), fmt.Errorf("writing to %s: %w; check the disk", s.dir, err))
}

func (s *Store) syncFailed(op string, id cairn.ChunkID, err error) error {
	return cairn.E(op, pathOf(id), cairn.Unavailable, fmt.Errorf(
		"fdatasync in %s failed earlier (%v); the store accepts no more writes because their durability is unknown; check the disk and restart the node", s.dir, err))
}

// activeFor returns the volume to append an n-byte record to, rolling to a
// new one if the active volume would pass the size limit. Called with wmu held.
func (s *Store) activeFor(n int64) (*volFile, error) {
	if a := s.active; a != nil {
		size := a.size.Load()
		if size+n <= s.maxSize || size == a.start {
			return a, nil
		}
		// Everything written to the old volume must be durable before
		// writers' tickets can be satisfied by syncing the new one.
		if err := a.f.Sync(); err != nil {
			s.commit.fail(err)
			return nil, err
		}
		s.commit.rolled()
	}
	var crypt *volCrypt
	if s.kek != nil {
		var err error
		if crypt, err = s.kek.newVolumeKey(); err != nil {
			return nil, err
		}
	}
	v, err := s.createVolume(s.nextVol, crypt, nil)
	if err != nil {
		return nil, err
	}
	s.nextVol++
	s.imu.Lock()
	s.vols[v.num] = v
	s.imu.Unlock()
	s.active = v
	s.log.Info("new volume", "volume", v.path)
	return v, nil
}

// createVolume writes a new volume file with its superblock under a
// temporary name, lets fill (if not nil) append records to it, syncs it and
// renames it into place, so a volume file either has a complete superblock
// and every record fill wrote, or does not exist.
//
// crypt, if not nil, is the data key of the new volume, which is then
// encrypted: a fresh one for a new volume, the source's for a compaction.
func (s *Store) createVolume(num int, crypt *volCrypt, fill func(*volFile) error) (*volFile, error) {
	sb := superblock{volume: uint64(num), created: time.Now().UnixNano(), encrypted: crypt != nil}
	if _, err := rand.Read(sb.salt[:]); err != nil {
		return nil, err
	}
	path := filepath.Join(s.dir, volumeName(num))
	tmp := path + ".tmp"
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*volFile, error) {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if _, err := f.WriteAt(sb.encode(), 0); err != nil {
		return fail(err)
	}
	if crypt != nil {
		if _, err := f.WriteAt(crypt.block, superblockSize); err != nil {
			return fail(err)
		}
	}
	v := &volFile{num: num, path: path, f: f, seed: sb.seed(), start: sb.dataStart(), crypt: crypt}
	v.size.Store(v.start)
	if fill != nil {
		if err := fill(v); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	f.Close()
	if err := syncDir(s.dir); err != nil {
		return nil, err
	}
	// Reopen under the final name so that errors name the right file.
	if v.f, err = s.fs.OpenFile(path, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	return v, nil
}
