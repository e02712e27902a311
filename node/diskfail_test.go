package node_test

import (
	"io/fs"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/volume"
)

// failingFS is the OS file system whose writes fail with EIO once broken
// is set, like a disk that died under the node.
type failingFS struct{ broken *atomic.Bool }

func (f failingFS) OpenFile(name string, flag int, perm fs.FileMode) (volume.File, error) {
	file, err := volume.OSFS{}.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return failingFile{file, f.broken}, nil
}

type failingFile struct {
	volume.File
	broken *atomic.Bool
}

func (f failingFile) WriteAt(p []byte, off int64) (int, error) {
	if f.broken.Load() {
		return 0, &fs.PathError{Op: "write", Path: "volume", Err: syscall.EIO}
	}
	return f.File.WriteAt(p, off)
}

func (f failingFile) Sync() error {
	if f.broken.Load() {
		return &fs.PathError{Op: "fsync", Path: "volume", Err: syscall.EIO}
	}
	return f.File.Sync()
}

// TestDiskFailureMarksNodeUnhealthy: when the disk starts failing, the
// write fails with an error (never a false acknowledgement), the node
// reports itself unhealthy on /healthz (and so in its heartbeats), and
// earlier chunks stay readable.
func TestDiskFailureMarksNodeUnhealthy(t *testing.T) {
	var broken atomic.Bool
	tn := startNode(t, func(c *node.Config) { c.Volume.FS = failingFS{&broken} })
	t.Cleanup(func() { broken.Store(false) }) // let Close sync
	before := cairn.NewChunkID()
	data := randomBytes(10_000)
	putOK(t, tn.Addr, before, data, "")
	broken.Store(true)
	more := randomBytes(5000)
	resp := putReq(t, tn.Addr, cairn.NewChunkID().String(), more, crcHex(more), "")
	if resp.StatusCode == http.StatusOK {
		t.Fatal("a write to a failing disk was acknowledged")
	}
	resp.Body.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		r, err := http.Get("http://" + tn.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s = %d after a disk failure, want 503", path, r.StatusCode)
		}
	}
	if rr := getRange(t, tn.Addr, before, ""); len(rr.Data) != len(data) {
		t.Fatalf("earlier chunk unreadable after the disk failed: %d bytes", len(rr.Data))
	}
}
