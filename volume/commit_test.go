package volume

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// syncFS counts Sync calls and fails them once failSync is set.
type syncFS struct {
	syncs    atomic.Int64
	failSync atomic.Bool
}

func (f *syncFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := OSFS{}.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncFile{File: file, fs: f}, nil
}

type syncFile struct {
	File
	fs *syncFS
}

func (f *syncFile) Sync() error {
	f.fs.syncs.Add(1)
	if f.fs.failSync.Load() {
		return &fs.PathError{Op: "fdatasync", Path: "test", Err: syscall.EIO}
	}
	return f.File.Sync()
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	sfs := &syncFS{}
	s := mustOpen(t, Options{Dir: t.TempDir(), FS: sfs})
	defer s.Close()
	mustPut(t, s, testID(0), testData(0, 10)) // create the volume
	const writers, each = 64, 10
	data := testData(1, 4096)
	crc := checksum.CRC32C(data)
	before := sfs.syncs.Load()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := testID(0)
				id[1], id[2] = byte(w), byte(i+1)
				if err := s.Put(context.Background(), id, data, crc); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d Puts failed", failed.Load())
	}
	syncs := sfs.syncs.Load() - before
	t.Logf("%d Puts, %d fdatasyncs", writers*each, syncs)
	if syncs >= writers*each/2 {
		t.Fatalf("%d fdatasyncs for %d concurrent Puts: group commit is not sharing them", syncs, writers*each)
	}
}

func TestSyncFailureIsSticky(t *testing.T) {
	sfs := &syncFS{}
	s := mustOpen(t, Options{Dir: t.TempDir(), FS: sfs})
	defer s.Close()
	mustPut(t, s, testID(1), testData(1, 5000))
	sfs.failSync.Store(true)
	data := testData(2, 5000)
	if err := s.Put(context.Background(), testID(2), data, checksum.CRC32C(data)); !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Put with failing fdatasync: %v, want Unavailable", err)
	}
	if _, err := s.Stat(testID(2)); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("unsynced chunk visible: %v", err)
	}
	sfs.failSync.Store(false)
	if err := s.Put(context.Background(), testID(3), data, checksum.CRC32C(data)); !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Put after a failed fdatasync: %v, want Unavailable", err)
	}
	if err := s.Delete(context.Background(), testID(1)); !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("Delete after a failed fdatasync: %v, want Unavailable", err)
	}
	checkChunk(t, s, testID(1), testData(1, 5000))
}
