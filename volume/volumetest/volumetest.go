// Package volumetest is a conformance suite for volume.Store: every
// configuration of the store (block size, volume size, file system) must
// pass it. Run it with Run from a test of the configuration.
package volumetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/volume"
)

// OpenFunc opens (or reopens) a store in dir. It must fail the test itself
// if Open fails. The suite closes every store it opens.
type OpenFunc func(t *testing.T, dir string) *volume.Store

// Run runs the whole suite, each case as a subtest in its own directory.
func Run(t *testing.T, open OpenFunc) {
	cases := []struct {
		name string
		fn   func(*testing.T, OpenFunc)
	}{
		{"PutRead", testPutRead},
		{"ReadAtRanges", testReadAtRanges},
		{"Stat", testStat},
		{"OpenRange", testOpenRange},
		{"Delete", testDelete},
		{"IdempotentPut", testIdempotentPut},
		{"ExistsConflict", testExistsConflict},
		{"WrongCRC", testWrongCRC},
		{"Reopen", testReopen},
		{"Walk", testWalk},
		{"Stats", testStats},
		{"ConcurrentPuts", testConcurrentPuts},
		{"Verify", testVerify},
		{"Closed", testClosed},
		{"Compact", testCompact},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// ID returns a deterministic chunk ID for n.
func ID(n int) cairn.ChunkID {
	var id cairn.ChunkID
	copy(id[:], fmt.Sprintf("chunk-%010d", n))
	return id
}

func openClose(t *testing.T, open OpenFunc, dir string) *volume.Store {
	s := open(t, dir)
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *volume.Store, id cairn.ChunkID, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), id, data, checksum.CRC32C(data)); err != nil {
		t.Fatalf("Put %v (%d bytes): %v", id, len(data), err)
	}
}

// ReadAll reads the whole chunk id with ReadAt.
func ReadAll(t *testing.T, s *volume.Store, id cairn.ChunkID) []byte {
	t.Helper()
	info, err := s.Stat(id)
	if err != nil {
		t.Fatalf("Stat %v: %v", id, err)
	}
	b := make([]byte, info.Length)
	n, err := s.ReadAt(id, b, 0)
	if err != nil && (err != io.EOF || n != len(b)) {
		t.Fatalf("ReadAt %v: n=%d err=%v", id, n, err)
	}
	return b[:n]
}

func wantKind(t *testing.T, err error, kind cairn.Kind, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want kind %q", what, err, kind)
	}
}

var sizes = []int{0, 1, 7, 4096, 4097, 65536, 65537, 300_000, 1 << 20}

func testPutRead(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	for i, n := range sizes {
		data := Data(uint64(i), n)
		put(t, s, ID(i), data)
		if got := ReadAll(t, s, ID(i)); !bytes.Equal(got, data) {
			t.Fatalf("chunk of %d bytes: read back differs", n)
		}
	}
	_, err := s.ReadAt(ID(999), make([]byte, 1), 0)
	wantKind(t, err, cairn.NotFound, "ReadAt of a missing chunk")
}

func testReadAtRanges(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	data := Data(7, 700_001)
	put(t, s, ID(1), data)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		off := r.Int64N(int64(len(data)) + 10)
		n := r.IntN(150_000)
		p := make([]byte, n)
		got, err := s.ReadAt(ID(1), p, off)
		wantN := max(0, min(int64(n), int64(len(data))-off))
		if int64(got) != wantN {
			t.Fatalf("ReadAt(off=%d, len=%d) = %d bytes, want %d (err %v)", off, n, got, wantN, err)
		}
		if wantN < int64(n) && err != io.EOF {
			t.Fatalf("ReadAt(off=%d, len=%d) short read without io.EOF: %v", off, n, err)
		}
		if wantN == int64(n) && err != nil {
			t.Fatalf("ReadAt(off=%d, len=%d): %v", off, n, err)
		}
		if got > 0 && !bytes.Equal(p[:got], data[off:off+int64(got)]) {
			t.Fatalf("ReadAt(off=%d, len=%d): wrong bytes", off, n)
		}
	}
	_, err := s.ReadAt(ID(1), make([]byte, 1), -1)
	wantKind(t, err, cairn.Invalid, "negative offset")
}

func testStat(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	data := Data(3, 100_000)
	put(t, s, ID(3), data)
	info, err := s.Stat(ID(3))
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != ID(3) || info.Length != int64(len(data)) || info.CRC != checksum.CRC32C(data) || info.BlockSize <= 0 || info.Volume <= 0 {
		t.Fatalf("Stat = %+v", info)
	}
	_, err = s.Stat(ID(4))
	wantKind(t, err, cairn.NotFound, "Stat of a missing chunk")
}

func testOpenRange(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	data := Data(5, 500_000)
	put(t, s, ID(5), data)
	for _, c := range []struct{ off, n int64 }{{0, 1}, {0, 500_000}, {1000, 70_000}, {65535, 2}, {499_999, 100}, {123_456, 1 << 30}} {
		r, err := s.OpenRange(ID(5), c.off, c.n)
		if err != nil {
			t.Fatalf("OpenRange(%d, %d): %v", c.off, c.n, err)
		}
		var buf bytes.Buffer
		n, err := r.WriteTo(&buf)
		if err != nil || n != r.Length {
			t.Fatalf("WriteTo = %d, %v; want %d", n, err, r.Length)
		}
		end := min(c.off+c.n, int64(len(data)))
		if r.Off > c.off || r.Off+r.Length < end || r.Off%int64(r.BlockSize) != 0 {
			t.Fatalf("range [%d,+%d) does not cover [%d,%d) aligned", r.Off, r.Length, c.off, end)
		}
		if !bytes.Equal(buf.Bytes(), data[r.Off:r.Off+r.Length]) {
			t.Fatalf("OpenRange(%d, %d): wrong bytes", c.off, c.n)
		}
		if err := volume.VerifyBlocks(buf.Bytes(), r.BlockSize, r.CRCs); err != nil {
			t.Fatalf("VerifyBlocks: %v", err)
		}
		bad := bytes.Clone(buf.Bytes())
		bad[len(bad)/2] ^= 1
		wantKind(t, volume.VerifyBlocks(bad, r.BlockSize, r.CRCs), cairn.Corrupt, "VerifyBlocks of flipped bytes")
		if r.ChunkCRCs != nil {
			t.Fatalf("OpenRange(%d, %d) filled in ChunkCRCs", c.off, c.n)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		checkChunkRange(t, s, ID(5), data, r, c.off, c.n)
	}
	_, err := s.OpenRange(ID(5), 500_000, 1)
	wantKind(t, err, cairn.Invalid, "OpenRange past the end")
	_, err = s.OpenRange(ID(6), 0, 1)
	wantKind(t, err, cairn.NotFound, "OpenRange of a missing chunk")
	_, err = s.OpenChunkRange(ID(5), 500_000, 1)
	wantKind(t, err, cairn.Invalid, "OpenChunkRange past the end")
	_, err = s.OpenChunkRange(ID(6), 0, 1)
	wantKind(t, err, cairn.NotFound, "OpenChunkRange of a missing chunk")

	// A chunk of one sub-block has one CRC, its whole CRC.
	small := Data(7, 100)
	put(t, s, ID(7), small)
	r, err := s.OpenChunkRange(ID(7), 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(r.ChunkCRCs) != 1 || r.ChunkCRCs[0] != checksum.CRC32C(small) {
		t.Fatalf("OpenChunkRange of a one-block chunk: ChunkCRCs %x, want [%08x]", r.ChunkCRCs, checksum.CRC32C(small))
	}
}

// checkChunkRange opens [off, off+n) of chunk id (holding data) with
// OpenChunkRange and checks it is the range OpenRange gave as want, with
// the CRCs of all the chunk's sub-blocks, which combine to its CRC.
func checkChunkRange(t *testing.T, s *volume.Store, id cairn.ChunkID, data []byte, want *volume.Range, off, n int64) {
	t.Helper()
	r, err := s.OpenChunkRange(id, off, n)
	if err != nil {
		t.Fatalf("OpenChunkRange(%d, %d): %v", off, n, err)
	}
	defer r.Close()
	if r.Off != want.Off || r.Length != want.Length || r.BlockSize != want.BlockSize || !slices.Equal(r.CRCs, want.CRCs) {
		t.Fatalf("OpenChunkRange(%d, %d) = [%d,+%d) with %d CRCs, OpenRange [%d,+%d) with %d", off, n, r.Off, r.Length, len(r.CRCs), want.Off, want.Length, len(want.CRCs))
	}
	bs := int64(r.BlockSize)
	first := int(r.Off / bs)
	if !slices.Equal(r.ChunkCRCs[first:first+len(r.CRCs)], r.CRCs) {
		t.Fatalf("OpenChunkRange(%d, %d): CRCs are not ChunkCRCs[%d:]", off, n, first)
	}
	if crc, ok := checksum.CombineBlocks(r.ChunkCRCs, bs, int64(len(data))); !ok || crc != checksum.CRC32C(data) {
		t.Fatalf("OpenChunkRange(%d, %d): %d ChunkCRCs combine to %08x (%v), want the chunk's %08x", off, n, len(r.ChunkCRCs), crc, ok, checksum.CRC32C(data))
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), data[r.Off:r.Off+r.Length]) {
		t.Fatalf("OpenChunkRange(%d, %d): WriteTo wrong bytes (%v)", off, n, err)
	}
}

func testDelete(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	ctx := context.Background()
	put(t, s, ID(1), Data(1, 5000))
	put(t, s, ID(2), Data(2, 5000))
	if err := s.Delete(ctx, ID(1)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Stat(ID(1))
	wantKind(t, err, cairn.NotFound, "Stat after Delete")
	wantKind(t, s.Delete(ctx, ID(1)), cairn.NotFound, "second Delete")
	if !bytes.Equal(ReadAll(t, s, ID(2)), Data(2, 5000)) {
		t.Fatal("other chunk changed by Delete")
	}
	// A deleted ID can be stored again (a retried write after a GC).
	put(t, s, ID(1), Data(11, 100))
	if !bytes.Equal(ReadAll(t, s, ID(1)), Data(11, 100)) {
		t.Fatal("re-put after delete reads wrong")
	}
}

func testIdempotentPut(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	data := Data(9, 70_000)
	put(t, s, ID(9), data)
	before := s.Stats()
	put(t, s, ID(9), data)
	if after := s.Stats(); after != before {
		t.Fatalf("idempotent Put changed stats: %+v -> %+v", before, after)
	}
}

func testExistsConflict(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	data := Data(10, 10_000)
	put(t, s, ID(10), data)
	other := Data(11, 10_000)
	wantKind(t, s.Put(context.Background(), ID(10), other, checksum.CRC32C(other)), cairn.Exists, "Put of different content")
	other = Data(10, 9_999)
	wantKind(t, s.Put(context.Background(), ID(10), other, checksum.CRC32C(other)), cairn.Exists, "Put of different length")
	if !bytes.Equal(ReadAll(t, s, ID(10)), data) {
		t.Fatal("conflicting Put changed the chunk")
	}
}

func testWrongCRC(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	data := Data(12, 10_000)
	wantKind(t, s.Put(context.Background(), ID(12), data, checksum.CRC32C(data)^1), cairn.Corrupt, "Put with wrong crc")
	_, err := s.Stat(ID(12))
	wantKind(t, err, cairn.NotFound, "Stat after rejected Put")
	if st := s.Stats(); st.Chunks != 0 {
		t.Fatalf("rejected Put left %d chunks", st.Chunks)
	}
}

func testReopen(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	for i, n := range sizes {
		put(t, s, ID(i), Data(uint64(i), n))
	}
	if err := s.Delete(context.Background(), ID(2)); err != nil {
		t.Fatal(err)
	}
	want := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	s = openClose(t, open, dir)
	if got := s.Stats(); got != want {
		t.Fatalf("stats after reopen %+v, before %+v", got, want)
	}
	for i, n := range sizes {
		if i == 2 {
			_, err := s.Stat(ID(i))
			wantKind(t, err, cairn.NotFound, "deleted chunk after reopen")
			continue
		}
		if !bytes.Equal(ReadAll(t, s, ID(i)), Data(uint64(i), n)) {
			t.Fatalf("chunk %d differs after reopen", i)
		}
	}
	put(t, s, ID(100), Data(100, 3000))
}

func testWalk(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	want := map[cairn.ChunkID]int64{}
	for i := 0; i < 50; i++ {
		n := 100 * i
		put(t, s, ID(i), Data(uint64(i), n))
		want[ID(i)] = int64(n)
	}
	if err := s.Delete(context.Background(), ID(7)); err != nil {
		t.Fatal(err)
	}
	delete(want, ID(7))
	got := map[cairn.ChunkID]int64{}
	s.Walk(func(ci volume.ChunkInfo) bool {
		got[ci.ID] = ci.Length
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("Walk saw %d chunks, want %d", len(got), len(want))
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("Walk: %v has length %d, want %d", id, got[id], n)
		}
	}
	calls := 0
	s.Walk(func(volume.ChunkInfo) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("Walk went on after false: %d calls", calls)
	}
}

func testStats(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	put(t, s, ID(1), Data(1, 1000))
	put(t, s, ID(2), Data(2, 2000))
	st := s.Stats()
	if st.Chunks != 2 || st.LiveBytes != 3000 || st.Volumes < 1 || st.DiskBytes < 3000 || st.GarbageBytes != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	if err := s.Delete(context.Background(), ID(1)); err != nil {
		t.Fatal(err)
	}
	st2 := s.Stats()
	if st2.Chunks != 1 || st2.LiveBytes != 2000 || st2.GarbageBytes < 1000 || st2.DiskBytes <= st.DiskBytes {
		t.Fatalf("Stats after delete = %+v", st2)
	}
}

func testConcurrentPuts(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := w*each + i
				// Every ID is put twice by different writers: idempotent.
				for _, k := range []int{n, (n + 1) % (writers * each)} {
					d := Data(uint64(k), 4096+k)
					if err := s.Put(context.Background(), ID(k), d, checksum.CRC32C(d)); err != nil {
						errs <- err
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Chunks != writers*each {
		t.Fatalf("%d chunks, want %d", st.Chunks, writers*each)
	}
	for n := 0; n < writers*each; n++ {
		if !bytes.Equal(ReadAll(t, s, ID(n)), Data(uint64(n), 4096+n)) {
			t.Fatalf("chunk %d differs", n)
		}
	}
}

func testVerify(t *testing.T, open OpenFunc) {
	s := openClose(t, open, t.TempDir())
	for i, n := range sizes {
		put(t, s, ID(i), Data(uint64(i), n))
		if err := s.Verify(ID(i)); err != nil {
			t.Fatalf("Verify of a good %d-byte chunk: %v", n, err)
		}
	}
	wantKind(t, s.Verify(ID(999)), cairn.NotFound, "Verify of a missing chunk")
}

func testClosed(t *testing.T, open OpenFunc) {
	s := open(t, t.TempDir())
	put(t, s, ID(1), Data(1, 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantKind(t, s.Put(context.Background(), ID(2), Data(2, 10), checksum.CRC32C(Data(2, 10))), cairn.Unavailable, "Put after Close")
	_, err := s.ReadAt(ID(1), make([]byte, 10), 0)
	wantKind(t, err, cairn.Unavailable, "ReadAt after Close")
}

func testCompact(t *testing.T, open OpenFunc) {
	dir := t.TempDir()
	s := open(t, dir)
	defer func() { s.Close() }()
	ctx := context.Background()
	want := map[int][]byte{}
	for i := 0; i < 60; i++ {
		n := sizes[i%len(sizes)] // two chunks of 1 MiB among them
		if i >= 2*len(sizes) {
			n = n/16 + i
		}
		d := Data(uint64(i), n)
		put(t, s, ID(i), d)
		want[i] = d
	}
	for i := 0; i < 60; i += 3 {
		if err := s.Delete(ctx, ID(i)); err != nil {
			t.Fatal(err)
		}
		delete(want, i)
	}
	// A range opened before the compaction reads right after it.
	r, err := s.OpenRange(ID(1), 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := s.Stats()
	if err := s.CompactAll(ctx); err != nil {
		t.Fatalf("CompactAll: %v", err)
	}
	after := s.Stats()
	if after.Chunks != before.Chunks || after.LiveBytes != before.LiveBytes || after.GarbageBytes != 0 ||
		after.DiskBytes >= before.DiskBytes {
		t.Fatalf("Stats before CompactAll %+v, after %+v", before, after)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), want[1]) {
		t.Fatalf("Range opened before CompactAll: %v, bytes equal %v", err, bytes.Equal(buf.Bytes(), want[1]))
	}
	check := func() {
		t.Helper()
		for i := 0; i < 60; i++ {
			if d, ok := want[i]; ok {
				if !bytes.Equal(ReadAll(t, s, ID(i)), d) {
					t.Fatalf("chunk %d differs after compaction", i)
				}
				if err := s.Verify(ID(i)); err != nil {
					t.Fatalf("Verify chunk %d after compaction: %v", i, err)
				}
				continue
			}
			_, err := s.Stat(ID(i))
			wantKind(t, err, cairn.NotFound, "deleted chunk after compaction")
		}
	}
	check()
	put(t, s, ID(100), Data(100, 3000))
	want[100] = Data(100, 3000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	check()
	if !bytes.Equal(ReadAll(t, s, ID(100)), want[100]) {
		t.Fatal("chunk put after compaction differs after reopen")
	}
}
