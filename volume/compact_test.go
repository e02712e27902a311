package volume

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/internal/await"
)

// bigID returns a chunk ID for any n (testID only has 256).
func bigID(n int) cairn.ChunkID {
	var id cairn.ChunkID
	binary.LittleEndian.PutUint32(id[:], uint32(n))
	id[15] = 0xCC
	return id
}

// chunkData is n bytes unique to chunk i.
func chunkData(i, n int) []byte {
	b := testData(byte(i), n)
	binary.LittleEndian.PutUint32(b, uint32(i))
	return b
}

// diskUsage sums the sizes of the *.vol files in dir, as os.Stat sees them.
func diskUsage(t *testing.T, dir string) int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.vol"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, p := range paths {
		n += fileSize(t, p)
	}
	return n
}

// parallel runs fn(i) for i in [0, n) on 16 goroutines and fails on the
// first error.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func putErr(s *Store, id cairn.ChunkID, data []byte) error {
	return s.Put(context.Background(), id, data, checksum.CRC32C(data))
}

// checkStore checks that exactly the chunks in live are stored, with the
// bytes chunkData(i, size), and that every ID in deleted is gone.
func checkStore(t *testing.T, s *Store, live map[int]int, deleted []int) {
	t.Helper()
	if got := s.Stats().Chunks; got != int64(len(live)) {
		t.Fatalf("%d chunks stored, want %d", got, len(live))
	}
	seen := map[cairn.ChunkID]int{}
	s.Walk(func(ci ChunkInfo) bool { seen[ci.ID]++; return true })
	if len(seen) != len(live) {
		t.Fatalf("Walk saw %d chunks, want %d", len(seen), len(live))
	}
	for i, size := range live {
		if seen[bigID(i)] != 1 {
			t.Fatalf("chunk %d seen %d times", i, seen[bigID(i)])
		}
		checkChunk(t, s, bigID(i), chunkData(i, size))
	}
	for _, i := range deleted {
		if _, err := s.Stat(bigID(i)); !errors.Is(err, cairn.NotFound) {
			t.Fatalf("deleted chunk %d: %v, want NotFound", i, err)
		}
	}
}

func TestCompactReclaims(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MaxVolumeSize: 1 << 20, CompactInterval: -1}
	s := mustOpen(t, opts)
	defer func() { s.Close() }()
	const total, size = 10_000, 1024
	parallel(t, total, func(i int) error { return putErr(s, bigID(i), chunkData(i, size)) })
	live := map[int]int{}
	var deleted []int
	for i := 0; i < total; i++ {
		if i%33 == 0 {
			live[i] = size
		} else {
			deleted = append(deleted, i)
		}
	}
	parallel(t, len(deleted), func(k int) error { return s.Delete(context.Background(), bigID(deleted[k])) })
	before, stBefore := diskUsage(t, dir), s.Stats()
	if err := s.CompactAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, st := diskUsage(t, dir), s.Stats()
	recordBytes := int64(len(live)) * header{kind: kindChunk, blockLog: 12, length: size}.recordLen()
	t.Logf("disk %d bytes in %d volumes -> %d bytes in %d volumes; live records %d bytes",
		before, stBefore.Volumes, after, st.Volumes, recordBytes)
	if st.DiskBytes != after || st.GarbageBytes != 0 {
		t.Fatalf("after CompactAll: %+v, files hold %d bytes", st, after)
	}
	if after > recordBytes+int64(st.Volumes)*superblockSize || after >= stBefore.DiskBytes {
		t.Fatalf("disk usage %d after compaction, live records are %d bytes", after, recordBytes)
	}
	checkStore(t, s, live, deleted)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	if got := s.Stats(); got != st {
		t.Fatalf("after reopen %+v, before %+v", got, st)
	}
	checkStore(t, s, live, deleted)
	mustPut(t, s, bigID(total), chunkData(total, size))
}

// TestCompactTombstoneRule follows one deleted chunk whose record and
// tombstone are in different volumes: the tombstone is kept while the
// record exists and dropped after, and the chunk never comes back.
func TestCompactTombstoneRule(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MaxVolumeSize: 16 << 10, CompactInterval: -1}
	s := mustOpen(t, opts)
	defer func() { s.Close() }()
	reopen := func() {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = mustOpen(t, opts)
		checkStore(t, s, map[int]int{1: 10_000, 2: 10_000, 3: 10_000}, []int{0})
	}
	compact := func(vol int) CompactStats {
		t.Helper()
		st, err := s.Compact(context.Background(), vol)
		if err != nil {
			t.Fatalf("Compact(%d): %v", vol, err)
		}
		return st
	}
	mustPut(t, s, bigID(0), chunkData(0, 10_000)) // volume 1
	mustPut(t, s, bigID(1), chunkData(1, 10_000)) // volume 2
	if err := s.Delete(context.Background(), bigID(0)); err != nil {
		t.Fatal(err) // tombstone in volume 2
	}
	mustPut(t, s, bigID(2), chunkData(2, 10_000)) // volume 3
	mustPut(t, s, bigID(3), chunkData(3, 10_000)) // volume 4, active
	if _, err := s.Compact(context.Background(), 4); !errors.Is(err, cairn.Invalid) {
		t.Fatalf("Compact of the active volume: %v, want Invalid", err)
	}
	if _, err := s.Compact(context.Background(), 99); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("Compact of a missing volume: %v, want NotFound", err)
	}

	st := compact(2)
	if st.Chunks != 1 || st.Tombstones != 1 || st.DroppedTombstones != 0 {
		t.Fatalf("volume 2 (tombstone of a record in volume 1): %+v, want the tombstone kept", st)
	}
	reopen()
	// After a restart the rule is rebuilt from the volumes.
	if st := compact(st.NewVolume); st.Tombstones != 1 {
		t.Fatalf("recompacting the tombstone after a restart: %+v, want it kept", st)
	}
	if st := compact(1); st.Chunks != 0 || st.NewVolume != 0 {
		t.Fatalf("volume 1 (only a deleted chunk): %+v, want nothing copied", st)
	}
	reopen()
	var tombVol int
	s.Walk(func(ci ChunkInfo) bool {
		if ci.ID == bigID(1) {
			tombVol = ci.Volume
		}
		return true
	})
	if st := compact(tombVol); st.Tombstones != 0 || st.DroppedTombstones != 1 {
		t.Fatalf("tombstone whose record is gone: %+v, want it dropped", st)
	}
	reopen()
	mustPut(t, s, bigID(0), chunkData(0, 10)) // the ID can be used again
}

// TestCompactConcurrent runs readers and writers of other chunks during
// compactions, deletes and re-puts chunks between the copy and the index
// switch, and reads through a Range opened before its volume is deleted.
func TestCompactConcurrent(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MaxVolumeSize: 64 << 10, CompactInterval: -1}
	s := mustOpen(t, opts)
	defer func() { s.Close() }()
	const n, size = 400, 3000
	parallel(t, n, func(i int) error { return putErr(s, bigID(i), chunkData(i, size)) })
	live := map[int]int{}
	var deleted []int
	for i := 0; i < n; i++ {
		if i%4 == 0 {
			deleted = append(deleted, i)
		} else {
			live[i] = size
		}
	}
	parallel(t, len(deleted), func(k int) error { return s.Delete(context.Background(), bigID(deleted[k])) })

	// Between copy and switch of the first compaction: delete a copied
	// chunk, and put again a deleted one.
	const delDuring, reputDuring = 1, 4
	var once sync.Once
	s.hook = func(point string) {
		if point != "compact.renamed" {
			return
		}
		once.Do(func() {
			if err := s.Delete(context.Background(), bigID(delDuring)); err != nil {
				t.Error(err)
			}
			if err := putErr(s, bigID(reputDuring), chunkData(reputDuring, 77)); err != nil {
				t.Error(err)
			}
		})
	}
	delete(live, delDuring)
	deleted = append(deleted, delDuring)
	live[reputDuring] = 77
	for k, i := range deleted {
		if i == reputDuring {
			deleted = append(deleted[:k], deleted[k+1:]...)
			break
		}
	}

	// A Range on a chunk in the first volume, opened before compaction.
	const rangeChunk = 2
	r, err := s.OpenRange(bigID(rangeChunk), 0, size)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	info, _ := s.Stat(bigID(rangeChunk))
	oldPath := filepath.Join(dir, volumeName(info.Volume))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, puts atomic.Int64
	fail := make(chan error, 100)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() { // readers of chunks nobody deletes
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (k*4+w)%n | 3 // never a multiple of 4, never delDuring
				got, err := readAll(s, bigID(i))
				if err != nil || !bytes.Equal(got, chunkData(i, size)) {
					fail <- errors.Join(errors.New("read during compaction"), err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // writer of new chunks
		defer wg.Done()
		for i := n; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := putErr(s, bigID(100_000+i), chunkData(i, 500)); err != nil {
				fail <- err
				return
			}
			puts.Add(1)
		}
	}()
	err = s.CompactAll(context.Background())
	close(stop)
	wg.Wait()
	close(fail)
	for err := range fail {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads and %d puts during compaction", reads.Load(), puts.Load())
	if _, err := os.Stat(oldPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("compacted volume %s still there: %v", oldPath, err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), chunkData(rangeChunk, size)) {
		t.Fatalf("Range opened before compaction: err %v, bytes equal %v", err, bytes.Equal(buf.Bytes(), chunkData(rangeChunk, size)))
	}
	if err := VerifyBlocks(buf.Bytes(), r.BlockSize, r.CRCs); err != nil {
		t.Fatal(err)
	}
	checkOwn := func() {
		t.Helper()
		for i, sz := range live {
			checkChunk(t, s, bigID(i), chunkData(i, sz))
		}
		for _, i := range deleted {
			if _, err := s.Stat(bigID(i)); !errors.Is(err, cairn.NotFound) {
				t.Fatalf("deleted chunk %d: %v", i, err)
			}
		}
		for i := n; i < n+int(puts.Load()); i++ {
			checkChunk(t, s, bigID(100_000+i), chunkData(i, 500))
		}
	}
	checkOwn()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	checkOwn()
	// Compacting the copy of the chunk deleted during the first compaction
	// must not bring it back either.
	if err := s.CompactAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkOwn()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	checkOwn()
}

// crashScenario fills a store so that volume 1 holds live chunks, deleted
// chunks, and the tombstones of deleted chunks both in volume 1 and later.
func crashScenario(t *testing.T, opts Options) (live map[int]int, deleted []int) {
	s := mustOpen(t, opts)
	defer s.Close()
	live = map[int]int{}
	for i := 0; i < 60; i++ {
		mustPut(t, s, bigID(i), chunkData(i, 2000))
		live[i] = 2000
		if i%3 == 2 { // delete an earlier chunk: its tombstone may share its volume
			d := i - 2
			if err := s.Delete(context.Background(), bigID(d)); err != nil {
				t.Fatal(err)
			}
			delete(live, d)
			deleted = append(deleted, d)
		}
	}
	return live, deleted
}

// TestCompactCrash simulates crashes at each step of a compaction of
// volume 1 by putting back the files a crash there would leave, and checks
// that reopening finds every chunk once, intact, and no deleted chunk.
func TestCompactCrash(t *testing.T) {
	cases := []struct {
		name  string
		point string
		// crash turns the directory after a finished compaction into what a
		// crash at point would have left: old is volume 1's bytes, tmp the
		// new volume's temporary file, newPath the new volume's name.
		crash func(t *testing.T, old, tmp []byte, oldPath, newPath string)
	}{
		{"BeforeRename", "compact.written", func(t *testing.T, old, tmp []byte, oldPath, newPath string) {
			writeFile(t, oldPath, old)
			writeFile(t, newPath+".tmp", tmp)
			if err := os.Remove(newPath); err != nil {
				t.Fatal(err)
			}
		}},
		{"BeforeDelete", "compact.renamed", func(t *testing.T, old, _ []byte, oldPath, _ string) {
			writeFile(t, oldPath, old)
		}},
		{"TornNewVolume", "compact.renamed", func(t *testing.T, old, _ []byte, oldPath, newPath string) {
			writeFile(t, oldPath, old)
			if err := os.Truncate(newPath, fileSize(t, newPath)/2+3); err != nil {
				t.Fatal(err)
			}
		}},
		{"AfterDelete", "compact.switched", func(*testing.T, []byte, []byte, string, string) {}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Dir: dir, MaxVolumeSize: 32 << 10, CompactInterval: -1}
			live, deleted := crashScenario(t, opts)
			s := mustOpen(t, opts)
			oldPath := filepath.Join(dir, volumeName(1))
			var old, tmp []byte
			s.hook = func(point string) {
				if point != c.point {
					return
				}
				old = readFile(t, oldPath)
				if tmps, _ := filepath.Glob(filepath.Join(dir, "*.vol.tmp")); len(tmps) == 1 {
					tmp = readFile(t, tmps[0])
				}
			}
			st, err := s.Compact(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if st.NewVolume == 0 || st.Chunks == 0 || st.DroppedTombstones == 0 {
				t.Fatalf("scenario does not exercise copies and dropped tombstones: %+v", st)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			c.crash(t, old, tmp, oldPath, filepath.Join(dir, volumeName(st.NewVolume)))
			for round := 0; round < 2; round++ {
				s = mustOpen(t, opts)
				checkStore(t, s, live, deleted)
				// The store goes on working: compaction of the leftovers
				// and new writes, then another restart.
				if err := s.CompactAll(context.Background()); err != nil {
					t.Fatal(err)
				}
				checkStore(t, s, live, deleted)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
				t.Fatalf("temporary files left: %v", tmps)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompactCancel(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MaxVolumeSize: 32 << 10, CompactInterval: -1}
	live, deleted := crashScenario(t, opts)
	s := mustOpen(t, opts)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s.hook = func(point string) {
		if point == "compact.written" {
			cancel()
		}
	}
	before := s.Stats()
	// Cancelled after the copy: nothing changes, the temporary file is gone.
	if _, err := s.Compact(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact cancelled during the copy: %v", err)
	}
	if got := s.Stats(); got != before {
		t.Fatalf("cancelled compaction changed stats: %+v -> %+v", before, got)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := s.Compact(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact with a cancelled context: %v", err)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	checkStore(t, s, live, deleted)
}

func TestCompactBackground(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MaxVolumeSize: 64 << 10, CompactInterval: 5 * time.Millisecond}
	s := mustOpen(t, opts)
	defer s.Close()
	const n, size = 300, 4000
	parallel(t, n, func(i int) error { return putErr(s, bigID(i), chunkData(i, size)) })
	before := diskUsage(t, dir)
	live := map[int]int{}
	var deleted []int
	for i := 0; i < n; i++ {
		if i%10 == 0 {
			live[i] = size
		} else {
			deleted = append(deleted, i)
		}
	}
	parallel(t, len(deleted), func(k int) error { return s.Delete(context.Background(), bigID(deleted[k])) })
	await.Until(t, time.Minute, func() error {
		for _, v := range s.Volumes() {
			if !v.Active && float64(v.GarbageBytes) >= 0.5*float64(v.DiskBytes) {
				return fmt.Errorf("background compaction did not run: %+v", s.Volumes())
			}
		}
		return nil
	})
	after := diskUsage(t, dir)
	t.Logf("background compaction: %d -> %d bytes on disk", before, after)
	if after >= before/2 {
		t.Fatalf("disk usage %d -> %d", before, after)
	}
	checkStore(t, s, live, deleted)
}

func TestCompactOptionsInvalid(t *testing.T) {
	for _, r := range []float64{-0.1, 1.5} {
		if _, err := Open(Options{Dir: t.TempDir(), CompactRatio: r}); !errors.Is(err, cairn.Invalid) {
			t.Fatalf("CompactRatio %v: %v, want Invalid", r, err)
		}
	}
}

// TestCompactStress puts and deletes chunks from several goroutines while
// another compacts everything in a loop, then checks the store before and
// after a restart. It catches compactions that miss appends still on their
// way to the index.
func TestCompactStress(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, MaxVolumeSize: 16 << 10, CompactInterval: time.Millisecond, CompactRatio: 0.2}
	s := mustOpen(t, opts)
	defer func() { s.Close() }()
	const writers, each = 8, 60
	var mu sync.Mutex
	live := map[int]int{}
	var deleted []int
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if err := s.CompactAll(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	parallel(t, writers, func(w int) error {
		for k := 0; k < each; k++ {
			i := w*each + k
			size := 100 + i*7%3000
			if err := putErr(s, bigID(i), chunkData(i, size)); err != nil {
				return err
			}
			if k%3 == 1 { // delete the previous one
				if err := s.Delete(context.Background(), bigID(i-1)); err != nil {
					return err
				}
				mu.Lock()
				delete(live, i-1)
				deleted = append(deleted, i-1)
				mu.Unlock()
			}
			mu.Lock()
			live[i] = size
			mu.Unlock()
		}
		return nil
	})
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkStore(t, s, live, deleted)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, opts)
	checkStore(t, s, live, deleted)
}

func TestCompactNoSpace(t *testing.T) {
	dir := t.TempDir()
	ffs := newFullFS(1 << 30)
	opts := Options{Dir: dir, FS: ffs, MaxVolumeSize: 32 << 10, CompactInterval: -1}
	live, deleted := crashScenario(t, opts)
	s := mustOpen(t, opts)
	defer s.Close()
	ffs.mu.Lock()
	ffs.limit = ffs.used + 5000 // room for a superblock and a record or two
	ffs.mu.Unlock()
	before := s.Stats()
	if _, err := s.Compact(context.Background(), 1); !errors.Is(err, cairn.NoSpace) {
		t.Fatalf("Compact on a full disk: %v, want NoSpace", err)
	}
	if got := s.Stats(); got != before {
		t.Fatalf("failed compaction changed stats: %+v -> %+v", before, got)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
	checkStore(t, s, live, deleted)
	ffs.setLimit(1 << 40)
	if err := s.CompactAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkStore(t, s, live, deleted)
}
