package volume

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// CompactStats describes one finished compaction.
type CompactStats struct {
	Volume            int   // the compacted volume; its file is gone
	NewVolume         int   // the volume its surviving records were copied to; 0 if none survived
	Chunks            int   // live chunk records copied
	Tombstones        int   // tombstones kept because an older record of their chunk remains elsewhere
	DroppedTombstones int   // tombstones dropped
	OldBytes          int64 // size of the compacted volume file
	NewBytes          int64 // size of the new volume file; 0 if none
}

// deadRecords tells, for every chunk ID, which volumes still hold chunk
// records of it that are no longer live (one entry per record). It decides
// whether a compaction may drop a tombstone. It lives in Store.dead, guarded
// by Store.imu, and is rebuilt by recovery.
type deadRecords map[cairn.ChunkID][]int

func (d deadRecords) add(id cairn.ChunkID, vol int) { d[id] = append(d[id], vol) }

// elsewhere reports whether a volume other than vol holds a dead record of id.
func (d deadRecords) elsewhere(id cairn.ChunkID, vol int) bool {
	for _, v := range d[id] {
		if v != vol {
			return true
		}
	}
	return false
}

// forget drops every entry of id in vol, after vol was deleted.
func (d deadRecords) forget(id cairn.ChunkID, vol int) {
	vs := slices.DeleteFunc(d[id], func(v int) bool { return v == vol })
	if len(vs) == 0 {
		delete(d, id)
		return
	}
	d[id] = vs
}

// copied is one record a compaction copies.
type copied struct {
	h        header
	from, to int64 // record offsets in the old and the new volume
}

// compactPlan is what the scan of a volume found.
type compactPlan struct {
	keep     []copied        // records to copy, in file order; to is set while copying
	chunkIDs []cairn.ChunkID // IDs of every chunk record in the volume
	dropped  int             // tombstones dropped
}

// Compact rewrites sealed volume vol: it copies the records of live chunks
// (those the index still points at) and the tombstones that are still needed
// into a new volume file, fsyncs it, switches the index to the copies, waits
// for reads already using the old file, and deletes it. A tombstone is
// kept if a volume other than vol still holds an older record of its chunk
// (otherwise the chunk would come back after a restart) and dropped
// otherwise. Copies keep their sequence numbers. Reads and writes go on
// meanwhile; the store lock is taken only to switch the index, and a chunk
// deleted or put again during the copy keeps its newer state. Compactions
// run one at a time.
//
// Failures: an unknown vol is cairn.NotFound, the active volume
// cairn.Invalid, a full disk cairn.NoSpace, a cancelled ctx or a Close
// returns the context error; in all these cases the store is as before (a
// partial new file is removed, or removed at the next Open). After a failed
// fdatasync it is cairn.Unavailable. If the old file cannot be deleted, the
// compaction has still taken effect and the error says so; the next Open
// reads the old file as a second copy of its records, which is harmless,
// and a later compaction removes it. docs/format.md gives the crash-safety
// argument.
func (s *Store) Compact(ctx context.Context, vol int) (CompactStats, error) {
	const op = "volume.compact"
	if !s.enter() {
		return CompactStats{}, errClosed(op)
	}
	defer s.inflight.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.stop, cancel)
	defer stop()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()

	v, num, err := s.compactTarget(op, vol)
	if err != nil {
		return CompactStats{}, err
	}
	// v is sealed, so no append starts any more; wait for the Puts and
	// Deletes that wrote to it to reach the index.
	v.appends.wg.Wait()
	st := CompactStats{Volume: vol, OldBytes: v.size.Load()}
	plan, err := s.planCompaction(ctx, v)
	if err != nil {
		return st, cairn.E(op, fmt.Errorf("compacting %s: %w", v.path, err))
	}
	var n *volFile
	if len(plan.keep) > 0 {
		n, err = s.createVolume(num, v.crypt, func(n *volFile) error {
			if err := copyRecords(ctx, v, n, plan.keep); err != nil {
				return err
			}
			s.failpoint("compact.written")
			return ctx.Err()
		})
		if err != nil {
			return st, s.compactFailed(op, v, err)
		}
		st.NewVolume, st.NewBytes = n.num, n.size.Load()
		s.failpoint("compact.renamed")
	}
	for _, c := range plan.keep {
		if c.h.kind == kindChunk {
			st.Chunks++
		} else {
			st.Tombstones++
		}
	}
	st.DroppedTombstones = plan.dropped
	s.switchVolume(v, n, plan.keep)
	s.failpoint("compact.switched")

	// The index no longer points into v and lookups cannot find it; wait
	// for the reads that found it earlier, then delete it.
	v.refs.Wait()
	v.f.Close()
	if err := os.Remove(v.path); err != nil {
		return st, cairn.E(op, fmt.Errorf("compacted %s into volume %d but cannot delete it: %w; it is read as a duplicate at the next start and compacted again", v.path, num, err))
	}
	if err := syncDir(s.dir); err != nil {
		return st, cairn.E(op, fmt.Errorf("compacted %s but syncing %s failed: %w", v.path, s.dir, err))
	}
	// Only now, with the deletion durable, are v's dead records gone for
	// good; until then the tombstones shadowing them were kept.
	s.imu.Lock()
	for _, id := range plan.chunkIDs {
		s.dead.forget(id, v.num)
	}
	s.imu.Unlock()
	s.log.Info("volume compacted", "volume", v.path, "new_volume", st.NewVolume, "chunks", st.Chunks,
		"tombstones_kept", st.Tombstones, "tombstones_dropped", st.DroppedTombstones,
		"old_bytes", st.OldBytes, "new_bytes", st.NewBytes)
	return st, nil
}

// compactTarget checks that vol can be compacted and reserves the number
// of the volume its records go to.
func (s *Store) compactTarget(op string, vol int) (*volFile, int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.imu.RLock()
	v := s.vols[vol]
	s.imu.RUnlock()
	switch v {
	case nil:
		return nil, 0, cairn.E(op, cairn.NotFound, fmt.Errorf("no volume %d in %s", vol, s.dir))
	case s.active:
		return nil, 0, cairn.E(op, cairn.Invalid, fmt.Errorf("volume %d is the active volume; only sealed volumes are compacted", vol))
	}
	if err := s.commit.failure(); err != nil {
		return nil, 0, s.syncFailed(op, cairn.ChunkID{}, err)
	}
	num := s.nextVol
	s.nextVol++
	return v, num, nil
}

func (s *Store) compactFailed(op string, v *volFile, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return cairn.E(op, err)
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return cairn.E(op, cairn.NoSpace, fmt.Errorf("no room in %s to compact %s (%v); the volume is left as it was", s.dir, v.path, err))
	}
	return cairn.E(op, fmt.Errorf("compacting %s: %w; the volume is left as it was", v.path, err))
}

// planCompaction scans sealed volume v and decides which records survive.
// A chunk record survives if the index points at it. A tombstone survives
// if another volume still holds a dead record of its chunk; those are the
// only records it can shadow, because a chunk ID is stored again only after
// a delete, so every record of the chunk other than the live one is dead.
// A damaged region (which recovery already logged) is skipped.
func (s *Store) planCompaction(ctx context.Context, v *volFile) (compactPlan, error) {
	var p compactPlan
	size := v.size.Load()
	for pos := v.start; pos < size; {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		h, err := readRecord(v, pos, size)
		if err != nil {
			next, ok, ferr := findRecord(v, pos+recordAlign, size)
			if ferr != nil {
				return p, ferr
			}
			s.log.Warn("compaction drops damaged bytes", "volume", v.path, "offset", pos, "reason", err)
			if !ok {
				break
			}
			pos = next
			continue
		}
		s.imu.RLock()
		if h.kind == kindChunk {
			p.chunkIDs = append(p.chunkIDs, h.id)
			if e, ok := s.index[h.id]; ok && e.vol == v.num && e.off == pos {
				p.keep = append(p.keep, copied{h: h, from: pos})
			}
		} else if s.dead.elsewhere(h.id, v.num) {
			p.keep = append(p.keep, copied{h: h, from: pos})
		} else {
			p.dropped++
		}
		s.imu.RUnlock()
		pos += h.recordLen()
	}
	return p, nil
}

// copyRecords appends the records in keep from v to n (not yet visible to
// anyone), re-encoding header and footer CRCs under n's salt. Data and
// block CRCs are copied as they are, so damage stays detectable.
func copyRecords(ctx context.Context, v, n *volFile, keep []copied) error {
	buf := make([]byte, 1<<20)
	for i := range keep {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := &keep[i]
		c.to = n.size.Load()
		if err := copyRecord(v, n, c.h, c.from, c.to, buf); err != nil {
			return err
		}
		n.size.Store(c.to + c.h.recordLen())
	}
	return nil
}

func copyRecord(v, n *volFile, h header, from, to int64, buf []byte) error {
	rl := h.recordLen()
	var hdr [headerSize]byte
	h.encode(hdr[:], n.seed)
	if rl <= int64(len(buf)) {
		// Read the whole record, check its footer once more (the scan did,
		// but the CRC array is about to be vouched for under a new salt),
		// then patch header and footer and write it in one go.
		b := buf[:rl]
		if _, err := v.f.ReadAt(b, from); err != nil {
			return fmt.Errorf("reading %s at %d: %w", v.path, from, err)
		}
		arr := b[h.crcsOff() : h.crcsOff()+h.arrLen()]
		if err := checkFooter(b[:headerSize], arr, b[h.footerOff():], v.seed); err != nil {
			return fmt.Errorf("record in %s at %d changed under the compactor: %w", v.path, from, err)
		}
		copy(b, hdr[:])
		putFooter(b[h.footerOff():], hdr[:], arr, n.seed)
		_, err := n.f.WriteAt(b, to)
		return err
	}
	if _, err := readRecord(v, from, from+rl); err != nil {
		return fmt.Errorf("record in %s at %d changed under the compactor: %w", v.path, from, err)
	}
	if _, err := n.f.WriteAt(hdr[:], to); err != nil {
		return err
	}
	// Data, padding and CRC array in pieces.
	body := h.footerOff() - headerSize
	for done := int64(0); done < body; {
		b := buf[:min(int64(len(buf)), body-done)]
		if _, err := v.f.ReadAt(b, from+headerSize+done); err != nil {
			return fmt.Errorf("reading %s at %d: %w", v.path, from, err)
		}
		if _, err := n.f.WriteAt(b, to+headerSize+done); err != nil {
			return err
		}
		done += int64(len(b))
	}
	arr := make([]byte, h.arrLen())
	if _, err := v.f.ReadAt(arr, from+h.crcsOff()); err != nil {
		return fmt.Errorf("reading %s at %d: %w", v.path, from, err)
	}
	var foot [footerSize]byte
	putFooter(foot[:], hdr[:], arr, n.seed)
	_, err := n.f.WriteAt(foot[:], to+h.footerOff())
	return err
}

// putFooter encodes the footer of a record with encoded header hdr and raw
// CRC array arr into b.
func putFooter(b, hdr, arr []byte, seed uint32) {
	binary.LittleEndian.PutUint32(b, footerMagic)
	binary.LittleEndian.PutUint32(b[4:], checksum.Update(checksum.Update(seed, hdr[:headerSize]), arr))
}

// switchVolume points the index entries that still name a record copied
// from v at its copy in n (nil if nothing was copied), makes n visible and
// v invisible. A chunk deleted or put again during the copy keeps its newer
// state; its copy in n is a dead record.
func (s *Store) switchVolume(v, n *volFile, keep []copied) {
	s.imu.Lock()
	defer s.imu.Unlock()
	for _, c := range keep {
		if c.h.kind != kindChunk {
			n.pinned += c.h.recordLen()
			continue
		}
		e, ok := s.index[c.h.id]
		if !ok || e.vol != v.num || e.off != c.from {
			s.dead.add(c.h.id, n.num)
			continue
		}
		e.vol, e.off = n.num, c.to
		s.index[c.h.id] = e
		n.liveRecords += c.h.recordLen()
		v.liveRecords -= c.h.recordLen()
	}
	if v.liveRecords != 0 {
		s.log.Error("compaction left live records behind (bug)", "volume", v.path, "bytes", v.liveRecords)
	}
	if n != nil {
		s.vols[n.num] = n
	}
	delete(s.vols, v.num)
}

// CompactAll compacts every volume holding garbage: it first seals the
// active volume if that holds garbage (the next write starts a new one),
// then compacts every sealed volume with garbage in number order, and
// repeats that once to drop tombstones the first pass kept for records it
// then removed. It stops at the first failure and returns it (see
// Compact); volumes compacted by then stay compacted.
func (s *Store) CompactAll(ctx context.Context) error {
	const op = "volume.compactall"
	if !s.enter() {
		return errClosed(op)
	}
	defer s.inflight.Done()
	if err := s.sealActive(op); err != nil {
		return err
	}
	for pass := 0; pass < 2; pass++ {
		vols := s.Volumes()
		slices.SortFunc(vols, func(a, b VolumeStats) int { return a.Volume - b.Volume })
		for _, vs := range vols {
			if vs.Active || vs.GarbageBytes == 0 {
				continue
			}
			_, err := s.Compact(ctx, vs.Volume)
			if errors.Is(err, cairn.NotFound) {
				continue // compacted meanwhile by the background compactor
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// sealActive makes the active volume a sealed one if it holds garbage, so
// that it can be compacted.
func (s *Store) sealActive(op string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	a := s.active
	if a == nil {
		return nil
	}
	s.imu.RLock()
	garbage := a.size.Load() - a.start - a.liveRecords
	s.imu.RUnlock()
	if garbage == 0 {
		return nil
	}
	if err := s.commit.failure(); err != nil {
		return s.syncFailed(op, cairn.ChunkID{}, err)
	}
	// As at a roll: writes whose tickets are pending must be durable
	// before the next sync goes to another file.
	if err := a.f.Sync(); err != nil {
		s.commit.fail(err)
		return s.syncFailed(op, cairn.ChunkID{}, err)
	}
	s.commit.rolled()
	s.active = nil
	return nil
}

// compactLoop is the background compactor: every interval it compacts the
// sealed volumes whose reclaimable garbage passes the ratio.
func (s *Store) compactLoop(interval time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop.Done():
			return
		case <-t.C:
		}
		for _, vol := range s.compactCandidates() {
			_, err := s.Compact(s.stop, vol)
			switch {
			case err == nil, errors.Is(err, cairn.NotFound):
			case s.stop.Err() != nil:
				return
			default:
				s.log.Error("background compaction failed", "volume", vol, "err", err)
			}
		}
	}
}

// compactCandidates returns the sealed volumes whose garbage, not counting
// tombstones a compaction had to keep, is at least the compaction ratio of
// their size. Nothing is compacted after a failed fdatasync.
func (s *Store) compactCandidates() []int {
	if s.commit.failure() != nil {
		return nil
	}
	s.wmu.Lock()
	active := s.active
	s.wmu.Unlock()
	s.imu.RLock()
	defer s.imu.RUnlock()
	var out []int
	for _, v := range s.vols {
		size := v.size.Load()
		reclaim := size - v.start - v.liveRecords - v.pinned
		// A volume just sealed may still have appends on their way to the
		// index; its garbage is overstated until they arrive.
		if v != active && !v.appends.busy() && reclaim > 0 && float64(reclaim) >= s.compactRatio*float64(size) {
			out = append(out, v.num)
		}
	}
	slices.Sort(out)
	return out
}

// failpoint calls the test hook, if one is set, at a named point of a
// compaction: "compact.written" (records written to the temporary file, not
// yet synced or renamed), "compact.renamed" (new volume durable under its
// name, index not switched), "compact.switched" (index switched, old file
// not yet deleted).
func (s *Store) failpoint(name string) {
	if s.hook != nil {
		s.hook(name)
	}
}
