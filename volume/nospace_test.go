package volume

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// fullFS is a fault-injecting FS: the disk holds limit bytes in total
// (counting file growth), and a write past that writes what fits and
// returns ENOSPC, as a real full disk does.
type fullFS struct {
	mu    sync.Mutex
	limit int64
	used  int64
	sizes map[string]int64
}

func newFullFS(limit int64) *fullFS { return &fullFS{limit: limit, sizes: map[string]int64{}} }

func (f *fullFS) setLimit(n int64) { f.mu.Lock(); f.limit = n; f.mu.Unlock() }

func (f *fullFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := OSFS{}.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	f.mu.Lock()
	f.sizes[name] = fi.Size()
	f.mu.Unlock()
	return &fullFile{File: file, fs: f, name: name}, nil
}

type fullFile struct {
	File
	fs   *fullFS
	name string
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	size := f.fs.sizes[f.name]
	grow := max(0, off+int64(len(p))-size)
	room := f.fs.limit - f.fs.used
	n := len(p)
	var err error
	if grow > room {
		n = max(0, int(size+room-off))
		err = &fs.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	f.fs.mu.Unlock()
	if n > 0 {
		var werr error
		n, werr = f.File.WriteAt(p[:n], off)
		if werr != nil {
			return n, werr
		}
	}
	f.fs.mu.Lock()
	if end := off + int64(n); end > f.fs.sizes[f.name] {
		f.fs.used += end - f.fs.sizes[f.name]
		f.fs.sizes[f.name] = end
	}
	f.fs.mu.Unlock()
	return n, err
}

func (f *fullFile) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	f.fs.mu.Lock()
	f.fs.used -= f.fs.sizes[f.name] - size
	f.fs.sizes[f.name] = size
	f.fs.mu.Unlock()
	return nil
}

func TestNoSpace(t *testing.T) {
	dir := t.TempDir()
	ffs := newFullFS(100_000)
	opts := Options{Dir: dir, FS: ffs, MaxVolumeSize: 40_000}
	s := mustOpen(t, opts)
	var stored []int
	var err error
	for i := 0; i < 100; i++ {
		data := testData(byte(i), 7000)
		if err = s.Put(context.Background(), testID(i), data, checksum.CRC32C(data)); err != nil {
			break
		}
		stored = append(stored, i)
	}
	if !errors.Is(err, cairn.NoSpace) {
		t.Fatalf("Put on a full disk: %v, want NoSpace", err)
	}
	t.Logf("stored %d chunks, then: %v", len(stored), err)
	failed := len(stored)
	if _, err := s.Stat(testID(failed)); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("failed chunk is visible: %v", err)
	}
	// The partial record is cut off: each volume ends at its last record.
	for _, v := range s.Volumes() {
		if got := fileSize(t, v.Path); got != v.DiskBytes {
			t.Fatalf("%s is %d bytes, store says %d", v.Path, got, v.DiskBytes)
		}
	}
	for _, i := range stored {
		checkChunk(t, s, testID(i), testData(byte(i), 7000))
	}
	if err := s.Delete(context.Background(), testID(0)); !errors.Is(err, cairn.NoSpace) && err != nil {
		t.Fatalf("Delete on a full disk: %v", err)
	}

	ffs.setLimit(1 << 30) // space freed
	for i := failed; i < failed+10; i++ {
		mustPut(t, s, testID(i), testData(byte(i), 7000))
	}
	want := s.Stats()
	s.Close()
	s = mustOpen(t, opts)
	defer s.Close()
	if got := s.Stats(); got != want {
		t.Fatalf("after reopen %+v, want %+v", got, want)
	}
	for i := 1; i < failed+10; i++ {
		checkChunk(t, s, testID(i), testData(byte(i), 7000))
	}
}

// TestNoSpaceTmpfs fills a real 1 MiB tmpfs. It needs root and mount(8);
// it is skipped otherwise.
func TestNoSpaceTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v: %s", err, out)
	}
	defer func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	}()
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	vdir := filepath.Join(dir, "vol")
	s := mustOpen(t, Options{Dir: vdir})
	n := 0
	var err error
	for ; n < 1000; n++ {
		data := testData(byte(n), 50_000)
		if err = s.Put(context.Background(), testID(n), data, checksum.CRC32C(data)); err != nil {
			break
		}
	}
	if !errors.Is(err, cairn.NoSpace) {
		s.Close()
		t.Fatalf("Put on a full tmpfs: %v, want NoSpace", err)
	}
	t.Logf("tmpfs full after %d chunks: %v", n, err)
	for i := 0; i < n; i++ {
		checkChunk(t, s, testID(i), testData(byte(i), 50_000))
	}
	os.Remove(filler)
	mustPut(t, s, testID(n), testData(byte(n), 50_000))
	s.Close()
	s = mustOpen(t, Options{Dir: vdir})
	defer s.Close()
	for i := 0; i <= n; i++ {
		checkChunk(t, s, testID(i), testData(byte(i), 50_000))
	}
}
