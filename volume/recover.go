package volume

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cairnfs/cairn"
)

// recovery is the state of one Open: the index being rebuilt in sequence
// order and the newest tombstone seen for every deleted ID.
type recovery struct {
	index  map[cairn.ChunkID]entry
	tombs  map[cairn.ChunkID]uint64
	dead   deadRecords // where the chunk records that lost live
	maxSeq uint64
	newest int // the volume holding the record with maxSeq
}

// apply folds one valid record into the index. A record only wins over
// another record of the same chunk if its sequence number is higher, so the
// outcome does not depend on the order volumes are scanned in (which a
// compactor may change).
func (r *recovery) apply(vol int, off int64, h header) {
	if h.seq > r.maxSeq {
		r.maxSeq, r.newest = h.seq, vol
	}
	switch h.kind {
	case kindChunk:
		if ts, ok := r.tombs[h.id]; ok && ts > h.seq {
			r.dead.add(h.id, vol)
			return
		}
		if old, ok := r.index[h.id]; ok {
			if old.seq > h.seq {
				r.dead.add(h.id, vol)
				return
			}
			// A newer record, or (equal seq) the second copy a compaction
			// interrupted before deleting its source left behind.
			r.dead.add(h.id, old.vol)
		}
		r.index[h.id] = entry{vol: vol, off: off, length: h.length, seq: h.seq, crc: h.crc, blockLog: h.blockLog, sealed: h.sealed}
	case kindTombstone:
		if r.tombs[h.id] < h.seq {
			r.tombs[h.id] = h.seq
		}
		if old, ok := r.index[h.id]; ok && old.seq < h.seq {
			delete(r.index, h.id)
			r.dead.add(h.id, old.vol)
		}
	}
}

// recover opens and scans every volume in the directory and rebuilds the
// index. Called once from Open.
func (s *Store) recover() error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return cairn.E("volume.open", fmt.Errorf("creating %s: %w", s.dir, err))
	}
	nums, err := s.listVolumes()
	if err != nil {
		return cairn.E("volume.open", fmt.Errorf("listing %s: %w", s.dir, err))
	}
	r := &recovery{index: make(map[cairn.ChunkID]entry), tombs: make(map[cairn.ChunkID]uint64), dead: make(deadRecords)}
	var last *volFile
	for _, num := range nums {
		v, err := s.openVolume(num)
		if err != nil {
			return err
		}
		s.vols[num] = v
		if err := s.scanVolume(v, r); err != nil {
			return err
		}
		s.nextVol = num + 1
		last = v
	}
	s.index = r.index
	s.dead = r.dead
	s.seq = r.maxSeq
	if s.kek != nil {
		// Sequence numbers are part of the nonces of sealed records. Ones
		// handed out to appends a crash lost (or recovery cut off) may
		// have reached the disk; never hand them out again.
		s.seq += seqGap
	}
	for id, e := range s.index {
		s.live += e.length
		s.vols[e.vol].liveRecords += e.header(id).recordLen()
	}
	// The active volume was the one holding the newest record (a
	// compaction's output may have a higher number but holds old records),
	// unless a newer volume was created and had nothing written to it yet.
	active := s.vols[r.newest]
	if last != nil && (active == nil || last.size.Load() == last.start) {
		active = last
	}
	// Appends go to a volume encrypted exactly when the store has a key:
	// a store given a key after running without one starts a new volume.
	if active != nil && active.size.Load() < s.maxSize && (active.crypt != nil) == (s.kek != nil) {
		s.active = active
	}
	st := s.Stats()
	s.log.Info("volumes recovered", "volumes", st.Volumes, "chunks", st.Chunks,
		"live_bytes", st.LiveBytes, "garbage_bytes", st.GarbageBytes)
	return nil
}

// listVolumes returns the numbers of the volume files in the directory,
// ascending, and removes leftover temporary files of unfinished creations.
func (s *Store) listVolumes() ([]int, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var nums []int
	for _, de := range ents {
		name := de.Name()
		if strings.HasSuffix(name, ".vol.tmp") {
			s.log.Warn("removing unfinished volume file", "file", name)
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		base, ok := strings.CutSuffix(name, ".vol")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(base)
		if err != nil || n <= 0 || volumeName(n) != name {
			s.log.Warn("ignoring file that is not a volume", "file", name)
			continue
		}
		nums = append(nums, n)
	}
	sort.Ints(nums)
	return nums, nil
}

// openVolume opens volume num and checks its superblock.
func (s *Store) openVolume(num int) (*volFile, error) {
	path := filepath.Join(s.dir, volumeName(num))
	f, err := s.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, cairn.E("volume.open", fmt.Errorf("opening %s: %w", path, err))
	}
	b := make([]byte, superblockSize)
	if _, err := f.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, cairn.E("volume.open", fmt.Errorf("reading %s: %w", path, err))
	}
	sb, err := decodeSuperblock(b)
	if err == nil && sb.volume != uint64(num) {
		err = fmt.Errorf("superblock names volume %d", sb.volume)
	}
	if err != nil {
		f.Close()
		return nil, cairn.E("volume.open", cairn.Corrupt, fmt.Errorf(
			"checksum mismatch: volume %s is unreadable: %v; move the file out of %s to start without it (its chunks will be re-replicated)", path, err, s.dir))
	}
	v := &volFile{num: num, path: path, f: f, seed: sb.seed(), start: sb.dataStart()}
	if sb.encrypted {
		kb := make([]byte, keyBlockSize)
		if _, err := f.ReadAt(kb, superblockSize); err != nil {
			f.Close()
			return nil, cairn.E("volume.open", cairn.Corrupt, fmt.Errorf("reading the key block of %s: %w: %w; move the file aside to start without it", path, errNoKeyBlock, err))
		}
		if v.crypt, err = s.kek.unwrap(kb, path); err != nil {
			f.Close()
			return nil, err
		}
	}
	return v, nil
}

// scanVolume reads every record header and footer of v (not the data) and
// applies the valid ones. A damaged region followed by a valid record is
// skipped and logged; a damaged or incomplete tail is truncated away.
func (s *Store) scanVolume(v *volFile, r *recovery) error {
	fi, err := v.f.Stat()
	if err != nil {
		return cairn.E("volume.open", fmt.Errorf("stat %s: %w", v.path, err))
	}
	size := fi.Size()
	pos := v.start
	for pos < size {
		h, err := readRecord(v, pos, size)
		if err == nil {
			r.apply(v.num, pos, h)
			pos += h.recordLen()
			continue
		}
		next, ok, ferr := findRecord(v, pos+recordAlign, size)
		if ferr != nil {
			return cairn.E("volume.open", fmt.Errorf("scanning %s: %w", v.path, ferr))
		}
		if !ok {
			s.log.Warn("truncating torn tail of volume (an unfinished write before a crash)",
				"volume", v.path, "offset", pos, "bytes", size-pos, "reason", err)
			if err := v.f.Truncate(pos); err != nil {
				return cairn.E("volume.open", fmt.Errorf("truncating %s to %d: %w", v.path, pos, err))
			}
			if err := v.f.Sync(); err != nil {
				return cairn.E("volume.open", fmt.Errorf("syncing %s: %w", v.path, err))
			}
			size = pos
			break
		}
		s.log.Error("skipping damaged bytes in the middle of a volume (bit rot?); chunks stored there are lost on this node and need re-replication",
			"volume", v.path, "offset", pos, "bytes", next-pos, "reason", err)
		pos = next
	}
	v.size.Store(size)
	return nil
}

// readRecord reads the header and trailer of the record at pos and checks
// the header CRC, that the record fits before size, and the footer. The
// data bytes are not read.
func readRecord(v *volFile, pos, size int64) (header, error) {
	var hdr [headerSize]byte
	if size-pos < headerSize {
		return header{}, fmt.Errorf("%d bytes left, too short for a record header", size-pos)
	}
	if _, err := v.f.ReadAt(hdr[:], pos); err != nil {
		return header{}, err
	}
	h, err := decodeHeader(hdr[:], v.seed)
	if err != nil {
		return h, err
	}
	if h.sealed && v.crypt == nil {
		return h, errors.New("encrypted record in a volume without a data key")
	}
	if end := pos + h.recordLen(); end > size {
		return h, fmt.Errorf("record of %d bytes ends at %d, past the end of the file at %d", h.recordLen(), end, size)
	}
	trailer := make([]byte, h.recordLen()-h.crcsOff())
	if _, err := v.f.ReadAt(trailer, pos+h.crcsOff()); err != nil {
		return h, err
	}
	arr := trailer[:h.arrLen()]
	return h, checkFooter(hdr[:], arr, trailer[len(trailer)-footerSize:], v.seed)
}

// findRecord searches v from pos (8-byte aligned) to size for the next valid
// record and returns its offset.
func findRecord(v *volFile, pos, size int64) (int64, bool, error) {
	const window = 1 << 20
	buf := make([]byte, window)
	for pos+headerSize <= size {
		n, err := v.f.ReadAt(buf[:min(window, size-pos)], pos)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, false, err
		}
		for i := 0; i+4 <= n; i += recordAlign {
			if binary.LittleEndian.Uint32(buf[i:]) != headerMagic {
				continue
			}
			if _, err := readRecord(v, pos+int64(i), size); err == nil {
				return pos + int64(i), true, nil
			}
		}
		pos += int64(n) &^ (recordAlign - 1)
		if n < recordAlign {
			break
		}
	}
	return 0, false, nil
}
