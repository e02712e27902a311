package volume

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testData(seed byte, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed) * 2654435761
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func testID(n int) cairn.ChunkID {
	var id cairn.ChunkID
	id[0], id[15] = byte(n), 0xAA
	return id
}

func mustOpen(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	if opts.BlockSize == 0 {
		opts.BlockSize = 4096
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustPut(t *testing.T, s *Store, id cairn.ChunkID, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), id, data, checksum.CRC32C(data)); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func readAll(s *Store, id cairn.ChunkID) ([]byte, error) {
	info, err := s.Stat(id)
	if err != nil {
		return nil, err
	}
	b := make([]byte, info.Length)
	n, err := s.ReadAt(id, b, 0)
	if err == io.EOF && n == len(b) {
		err = nil
	}
	return b[:n], err
}

func checkChunk(t *testing.T, s *Store, id cairn.ChunkID, want []byte) {
	t.Helper()
	got, err := readAll(s, id)
	if err != nil {
		t.Fatalf("read %v: %v", id, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %v: wrong bytes", id)
	}
}

// threeChunks stores chunks 1, 2, 3 (multi-block) in one volume, closes the
// store and returns the volume path and the records' infos.
func threeChunks(t *testing.T, dir string) (string, [3]ChunkInfo) {
	s := mustOpen(t, Options{Dir: dir})
	var infos [3]ChunkInfo
	for i := range 3 {
		mustPut(t, s, testID(i+1), testData(byte(i+1), 10_000+i))
		info, err := s.Stat(testID(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		infos[i] = info
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, volumeName(1)), infos
}

func recLen(info ChunkInfo) int64 {
	return header{kind: kindChunk, blockLog: uint8(log2(info.BlockSize)), length: info.Length}.recordLen()
}

func TestTornTail(t *testing.T) {
	h := header{kind: kindChunk, blockLog: 12, length: 10_002}
	cuts := map[string]int64{
		"one byte":       1,
		"mid header":     20,
		"header minus 1": headerSize - 1,
		"header only":    headerSize,
		"mid data":       headerSize + 5000,
		"data end":       headerSize + h.length,
		"mid crc array":  h.crcsOff() + 6,
		"mid footer":     h.footerOff() + 3,
		"last byte":      h.recordLen() - 1,
	}
	for name, cut := range cuts {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path, infos := threeChunks(t, dir)
			if got := recLen(infos[2]); got != h.recordLen() {
				t.Fatalf("record length %d, test assumes %d", got, h.recordLen())
			}
			if err := os.Truncate(path, infos[2].Offset+cut); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, Options{Dir: dir})
			defer s.Close()
			checkChunk(t, s, testID(1), testData(1, 10_000))
			checkChunk(t, s, testID(2), testData(2, 10_001))
			if _, err := s.Stat(testID(3)); !errors.Is(err, cairn.NotFound) {
				t.Fatalf("torn chunk: Stat = %v, want NotFound", err)
			}
			if fi, _ := os.Stat(path); fi.Size() != infos[2].Offset {
				t.Fatalf("volume is %d bytes after recovery, want %d", fi.Size(), infos[2].Offset)
			}
			// The store appends where the torn record was.
			mustPut(t, s, testID(3), testData(3, 10_002))
			s.Close()
			s2 := mustOpen(t, Options{Dir: dir})
			defer s2.Close()
			for i := range 3 {
				checkChunk(t, s2, testID(i+1), testData(byte(i+1), 10_000+i))
			}
			if st := s2.Stats(); st.GarbageBytes != 0 {
				t.Fatalf("garbage after torn tail recovery: %+v", st)
			}
		})
	}
}

func TestCompleteTailKept(t *testing.T) {
	dir := t.TempDir()
	threeChunks(t, dir)
	s := mustOpen(t, Options{Dir: dir})
	defer s.Close()
	for i := range 3 {
		checkChunk(t, s, testID(i+1), testData(byte(i+1), 10_000+i))
	}
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

func TestBitFlipInData(t *testing.T) {
	dir := t.TempDir()
	path, infos := threeChunks(t, dir)
	// Flip a byte in the second 4 KiB block of chunk 2.
	flipByte(t, path, infos[1].Offset+headerSize+5000)
	s := mustOpen(t, Options{Dir: dir})
	defer s.Close()
	checkChunk(t, s, testID(1), testData(1, 10_000))
	checkChunk(t, s, testID(3), testData(3, 10_002))
	if _, err := readAll(s, testID(2)); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("read of flipped chunk: %v, want Corrupt", err)
	}
	p := make([]byte, 100)
	if _, err := s.ReadAt(testID(2), p, 4990); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("ReadAt of flipped block: %v, want Corrupt", err)
	}
	// Untouched blocks still read: only touched blocks are verified.
	if _, err := s.ReadAt(testID(2), p, 100); err != nil || !bytes.Equal(p, testData(2, 10_001)[100:200]) {
		t.Fatalf("ReadAt of a good block of a damaged chunk: %v", err)
	}
	if err := s.Verify(testID(2)); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("Verify: %v, want Corrupt", err)
	}
	if err := s.Verify(testID(1)); err != nil {
		t.Fatalf("Verify of a good chunk: %v", err)
	}
}

func TestBitFlipInMetadata(t *testing.T) {
	h := header{kind: kindChunk, blockLog: 12, length: 10_001}
	spots := map[string]int64{
		"magic":     1,
		"kind":      4,
		"id":        10,
		"length":    25,
		"crc":       41,
		"headercrc": 45,
		"crcarray":  h.crcsOff() + 5,
		"footer":    h.footerOff() + 6,
	}
	for name, at := range spots {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path, infos := threeChunks(t, dir)
			size := fileSize(t, path)
			flipByte(t, path, infos[1].Offset+at)
			s := mustOpen(t, Options{Dir: dir})
			defer s.Close()
			checkChunk(t, s, testID(1), testData(1, 10_000))
			checkChunk(t, s, testID(3), testData(3, 10_002))
			if _, err := s.Stat(testID(2)); !errors.Is(err, cairn.NotFound) {
				t.Fatalf("damaged record: Stat = %v, want NotFound", err)
			}
			if got := fileSize(t, path); got != size {
				t.Fatalf("volume size changed from %d to %d", size, got)
			}
			if st := s.Stats(); st.GarbageBytes != recLen(infos[1]) {
				t.Fatalf("garbage %d, want the damaged record's %d bytes", st.GarbageBytes, recLen(infos[1]))
			}
			mustPut(t, s, testID(4), testData(4, 5000))
			checkChunk(t, s, testID(4), testData(4, 5000))
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestTombstoneRecovery(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, MaxVolumeSize: 32 << 10})
	for i := range 10 {
		mustPut(t, s, testID(i), testData(byte(i), 9000))
	}
	for i := 0; i < 10; i += 3 {
		if err := s.Delete(context.Background(), testID(i)); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, s, testID(3), testData(33, 100)) // re-put after delete
	want := s.Stats()
	s.Close()
	s = mustOpen(t, Options{Dir: dir, MaxVolumeSize: 32 << 10})
	defer s.Close()
	if got := s.Stats(); got != want {
		t.Fatalf("stats %+v after reopen, want %+v", got, want)
	}
	if want.Volumes < 3 {
		t.Fatalf("only %d volumes; the test wants rollover", want.Volumes)
	}
	for i := range 10 {
		_, err := s.Stat(testID(i))
		switch {
		case i == 3:
			checkChunk(t, s, testID(3), testData(33, 100))
		case i%3 == 0:
			if !errors.Is(err, cairn.NotFound) {
				t.Fatalf("deleted chunk %d: %v", i, err)
			}
		default:
			checkChunk(t, s, testID(i), testData(byte(i), 9000))
		}
	}
}

func TestBadSuperblock(t *testing.T) {
	dir := t.TempDir()
	path, _ := threeChunks(t, dir)
	flipByte(t, path, 20)
	_, err := Open(Options{Dir: dir, Logger: quiet()})
	if !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("Open with a damaged superblock: %v, want Corrupt", err)
	}
}

func TestOptionsInvalid(t *testing.T) {
	for _, o := range []Options{{}, {Dir: t.TempDir(), BlockSize: 1000}, {Dir: t.TempDir(), BlockSize: 1 << 30}, {Dir: t.TempDir(), MaxVolumeSize: 10}} {
		if _, err := Open(o); !errors.Is(err, cairn.Invalid) {
			t.Fatalf("Open(%+v) = %v, want Invalid", o, err)
		}
	}
}
