package volume

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// ReadAt reads len(p) bytes of chunk id starting at offset off into p, like
// io.ReaderAt: fewer bytes come with io.EOF when the chunk ends first, and
// off at or past the end gives 0, io.EOF. It reads and verifies every
// sub-block the range touches, and only those. A missing chunk is
// cairn.NotFound, a negative off cairn.Invalid, and a sub-block failing its
// CRC cairn.Corrupt with nothing returned in p worth using: bad bytes are
// never returned as good.
func (s *Store) ReadAt(id cairn.ChunkID, p []byte, off int64) (int, error) {
	const op = "volume.read"
	if !s.enter() {
		return 0, errClosed(op)
	}
	defer s.inflight.Done()
	e, v, ok := s.acquire(id)
	if !ok {
		return 0, notFound(op, id)
	}
	defer v.refs.Done()
	if off < 0 {
		return 0, cairn.E(op, pathOf(id), cairn.Invalid, fmt.Errorf("negative offset %d", off))
	}
	if off >= e.length {
		return 0, io.EOF
	}
	n := min(int64(len(p)), e.length-off)
	if n == 0 {
		return 0, nil
	}
	first, last := off>>e.blockLog, (off+n-1)>>e.blockLog
	aStart := first << e.blockLog
	aEnd := min((last+1)<<e.blockLog, e.length)
	crcs, err := s.readCRCs(v, e, id, first, last)
	if err != nil {
		return 0, cairn.E(op, pathOf(id), err)
	}
	var buf []byte
	direct := aStart == off && aEnd == off+n
	if direct {
		buf = p[:n]
	} else {
		bp := s.getBuf(int(aEnd - aStart))
		defer s.bufs.Put(bp)
		buf = (*bp)[:aEnd-aStart]
	}
	if _, err := v.f.ReadAt(buf, e.off+headerSize+aStart); err != nil {
		return 0, cairn.E(op, pathOf(id), fmt.Errorf("reading %s at %d: %w", v.path, e.off, err))
	}
	if err := s.decrypt(v, e, id, buf, first, last); err != nil {
		return 0, cairn.E(op, err)
	}
	if err := s.checkBlocks(v, e, id, buf, first, crcs); err != nil {
		return 0, cairn.E(op, err)
	}
	if !direct {
		copy(p[:n], buf[off-aStart:])
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

func (s *Store) getBuf(n int) *[]byte {
	if bp, ok := s.bufs.Get().(*[]byte); ok && cap(*bp) >= n {
		return bp
	}
	b := make([]byte, n)
	return &b
}

// readCRCs returns the stored CRCs of sub-blocks first..last of the chunk.
// A single-block chunk's only block CRC is its whole CRC, held in memory.
func (s *Store) readCRCs(v *volFile, e entry, id cairn.ChunkID, first, last int64) ([]uint32, error) {
	if e.length <= 1<<e.blockLog {
		return []uint32{e.crc}, nil
	}
	raw := make([]byte, 4*(last-first+1))
	at := e.off + e.header(id).crcsOff() + 4*first
	if _, err := v.f.ReadAt(raw, at); err != nil {
		return nil, fmt.Errorf("reading block checksums from %s at %d: %w", v.path, at, err)
	}
	crcs := make([]uint32, len(raw)/4)
	for i := range crcs {
		crcs[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return crcs, nil
}

// decrypt decrypts buf, sub-blocks first..last of chunk id, in place if
// the chunk's record is sealed, checking each sub-block's tag.
func (s *Store) decrypt(v *volFile, e entry, id cairn.ChunkID, buf []byte, first, last int64) error {
	if !e.sealed {
		return nil
	}
	tags, err := readTags(v, e.header(id), e.off, first, last)
	if err != nil {
		return cairn.E(pathOf(id), err)
	}
	if err := v.crypt.open(e.header(id), buf, first, tags, fmt.Sprintf("%s at %d", v.path, e.off)); err != nil {
		s.log.Error("corrupt chunk block: authenticated decryption failed", "chunk", id, "volume", v.path, "record", e.off)
		return err
	}
	return nil
}

// readTags returns the GCM tags of sub-blocks first..last of the sealed
// record h at off in v.
func readTags(v *volFile, h header, off, first, last int64) ([]byte, error) {
	tags := make([]byte, tagSize*(last-first+1))
	at := off + h.tagsOff() + tagSize*first
	if _, err := v.f.ReadAt(tags, at); err != nil {
		return nil, fmt.Errorf("reading block tags from %s at %d: %w", v.path, at, err)
	}
	return tags, nil
}

// checkBlocks verifies buf, sub-blocks first.. of a chunk, against crcs.
func (s *Store) checkBlocks(v *volFile, e entry, id cairn.ChunkID, buf []byte, first int64, crcs []uint32) error {
	bs := 1 << e.blockLog
	for i, want := range crcs {
		blk := buf[i*bs : min((i+1)*bs, len(buf))]
		if got := checksum.CRC32C(blk); got != want {
			blockNo := first + int64(i)
			s.log.Error("corrupt chunk block", "chunk", id, "block", blockNo, "volume", v.path, "record", e.off)
			return cairn.E(pathOf(id), cairn.Corrupt, fmt.Errorf(
				"checksum mismatch in block %d (bytes %d..%d) stored in %s at %d: got crc %08x, want %08x; read the chunk from another replica and have it repaired",
				blockNo, blockNo*int64(bs), blockNo*int64(bs)+int64(len(blk)), v.path, e.off, got, want))
		}
	}
	return nil
}

// Verify reads the whole chunk id and checks its header, footer, every
// sub-block CRC and the whole-chunk CRC; it is what a scrubber runs. A
// missing chunk is cairn.NotFound, any mismatch cairn.Corrupt.
func (s *Store) Verify(id cairn.ChunkID) error {
	const op = "volume.verify"
	if !s.enter() {
		return errClosed(op)
	}
	defer s.inflight.Done()
	e, v, ok := s.acquire(id)
	if !ok {
		return notFound(op, id)
	}
	defer v.refs.Done()
	h, err := readRecord(v, e.off, e.off+e.header(id).recordLen())
	if err != nil || h != e.header(id) {
		if err == nil {
			err = errors.New("record header differs from the index")
		}
		return cairn.E(op, pathOf(id), cairn.Corrupt, fmt.Errorf("checksum mismatch: record in %s at %d: %v; repair it from another replica", v.path, e.off, err))
	}
	const step = 1 << 20
	bs := int64(1) << e.blockLog
	piece := max(step/bs, 1) * bs
	buf := make([]byte, min(piece, e.length))
	whole := uint32(0)
	for off := int64(0); off < e.length; off += piece {
		b := buf[:min(piece, e.length-off)]
		if _, err := v.f.ReadAt(b, e.off+headerSize+off); err != nil {
			return cairn.E(op, pathOf(id), fmt.Errorf("reading %s at %d: %w", v.path, e.off, err))
		}
		first, last := off>>e.blockLog, (off+int64(len(b))-1)>>e.blockLog
		crcs, err := s.readCRCs(v, e, id, first, last)
		if err != nil {
			return cairn.E(op, pathOf(id), err)
		}
		if err := s.decrypt(v, e, id, b, first, last); err != nil {
			return cairn.E(op, err)
		}
		if err := s.checkBlocks(v, e, id, b, first, crcs); err != nil {
			return cairn.E(op, err)
		}
		whole = checksum.Update(whole, b)
	}
	if whole != e.crc {
		return cairn.E(op, pathOf(id), cairn.Corrupt, fmt.Errorf("checksum mismatch: whole chunk crc %08x, stored %08x; repair it from another replica", whole, e.crc))
	}
	return nil
}

// Range is an aligned byte range of a chunk, ready to be sent without the
// data node touching the bytes. The receiver checks them with VerifyBlocks.
type Range struct {
	ID          cairn.ChunkID
	ChunkLength int64    // length of the whole chunk
	Off         int64    // start of the range in the chunk, a multiple of BlockSize
	Length      int64    // bytes in the range: whole sub-blocks, the last one possibly short
	BlockSize   int      // sub-block size
	CRCs        []uint32 // CRC32C of each sub-block in the range
	// ChunkCRCs, only from OpenChunkRange, is the CRC32C of every
	// sub-block of the chunk; CRCs is the part of it the range covers.
	ChunkCRCs []uint32

	f      File
	osf    *os.File // f as an *os.File, for sendfile; nil for other FS
	fileOf int64    // offset of the range in the volume file

	// For a sealed record: the volume's data key, the record's header,
	// the range's first sub-block and the tags of its sub-blocks.
	crypt *volCrypt
	h     header
	first int64
	tags  []byte
	where string
}

// OpenRange returns the sub-block-aligned range covering [off, off+n) of
// chunk id (n is clipped at the end of the chunk) with the CRCs of its
// sub-blocks, without reading the data. The Range holds its own file handle
// and must be closed; it stays valid if a compaction moves the chunk or
// deletes the volume file meanwhile. A missing chunk is cairn.NotFound; off outside the
// chunk or n <= 0 is cairn.Invalid (an empty chunk has no ranges); failing to
// read the CRCs or open the volume is an I/O error.
func (s *Store) OpenRange(id cairn.ChunkID, off, n int64) (*Range, error) {
	return s.openRange(id, off, n, false)
}

// OpenChunkRange is OpenRange, and also fills in the Range's ChunkCRCs with
// the CRCs of all the chunk's sub-blocks (one more read of the CRC array,
// 4 bytes per sub-block): what a reader that trusts only the whole-chunk
// CRC needs to check a part of the chunk. Errors are those of OpenRange.
func (s *Store) OpenChunkRange(id cairn.ChunkID, off, n int64) (*Range, error) {
	return s.openRange(id, off, n, true)
}

func (s *Store) openRange(id cairn.ChunkID, off, n int64, all bool) (*Range, error) {
	const op = "volume.openrange"
	if !s.enter() {
		return nil, errClosed(op)
	}
	defer s.inflight.Done()
	e, v, ok := s.acquire(id)
	if !ok {
		return nil, notFound(op, id)
	}
	// The reference keeps a compaction from deleting the file before it is
	// opened below; once open, the Range's handle outlives the file's name.
	defer v.refs.Done()
	if off < 0 || off >= e.length || n <= 0 {
		return nil, cairn.E(op, pathOf(id), cairn.Invalid,
			fmt.Errorf("range at %d of %d bytes is outside the chunk of %d bytes", off, n, e.length))
	}
	n = min(n, e.length-off)
	first, last := off>>e.blockLog, (off+n-1)>>e.blockLog
	var crcs, chunkCRCs []uint32
	var err error
	if all {
		chunkCRCs, err = s.readCRCs(v, e, id, 0, (e.length-1)>>e.blockLog)
		if err == nil {
			crcs = chunkCRCs[first : last+1]
		}
	} else {
		crcs, err = s.readCRCs(v, e, id, first, last)
	}
	if err != nil {
		return nil, cairn.E(op, pathOf(id), err)
	}
	var tags []byte
	if e.sealed {
		if tags, err = readTags(v, e.header(id), e.off, first, last); err != nil {
			return nil, cairn.E(op, pathOf(id), err)
		}
	}
	f, err := s.fs.OpenFile(v.path, os.O_RDONLY, 0)
	if err != nil {
		return nil, cairn.E(op, pathOf(id), fmt.Errorf("opening %s: %w", v.path, err))
	}
	aStart := first << e.blockLog
	r := &Range{
		ID: id, ChunkLength: e.length, Off: aStart,
		Length:    min((last+1)<<e.blockLog, e.length) - aStart,
		BlockSize: 1 << e.blockLog, CRCs: crcs, ChunkCRCs: chunkCRCs,
		f: f, fileOf: e.off + headerSize + aStart,
	}
	if e.sealed {
		r.crypt, r.h, r.first, r.tags = v.crypt, e.header(id), first, tags
		r.where = fmt.Sprintf("%s at %d", v.path, e.off)
		return r, nil // no sendfile: the bytes are decrypted on the way
	}
	r.osf, _ = osFileOf(f)
	return r, nil
}

// WriteTo copies the range's raw bytes to w and returns the number copied.
// With the default FS the bytes come from a private *os.File through an
// io.LimitedReader, so io.Copy lets the kernel move them (sendfile) when w is
// a TCP connection or an http.ResponseWriter over one. The bytes are not
// verified here. A short copy is io.ErrUnexpectedEOF; write errors of w are
// returned as they are. WriteTo may be called more than once.
func (r *Range) WriteTo(w io.Writer) (int64, error) {
	if r.crypt != nil {
		return r.writeDecrypted(w)
	}
	var src io.Reader
	if r.osf != nil {
		if _, err := r.osf.Seek(r.fileOf, io.SeekStart); err != nil {
			return 0, err
		}
		src = &io.LimitedReader{R: r.osf, N: r.Length}
	} else {
		src = io.NewSectionReader(r.f, r.fileOf, r.Length)
	}
	n, err := io.Copy(w, src)
	if err == nil && n < r.Length {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Close releases the range's file handle. It returns the close error, if any.
func (r *Range) Close() error { return r.f.Close() }

// writeDecrypted is WriteTo for a sealed record: it reads, decrypts and
// writes up to 1 MiB of whole sub-blocks at a time. A sub-block failing
// authenticated decryption is cairn.Corrupt and nothing of it is written.
// The plaintext is then checked by the receiver against the CRCs, as
// for a record that is not sealed.
func (r *Range) writeDecrypted(w io.Writer) (int64, error) {
	bs := int64(r.BlockSize)
	piece := max((1<<20)/bs, 1) * bs
	buf := make([]byte, min(piece, r.Length))
	var sent int64
	for off := int64(0); off < r.Length; off += piece {
		b := buf[:min(piece, r.Length-off)]
		if _, err := r.f.ReadAt(b, r.fileOf+off); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return sent, err
		}
		blk := off / bs
		if err := r.crypt.open(r.h, b, r.first+blk, r.tags[tagSize*blk:], r.where); err != nil {
			return sent, cairn.E("volume.range", err)
		}
		n, err := w.Write(b)
		sent += int64(n)
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}
