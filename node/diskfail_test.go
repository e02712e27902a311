package node_test

import (
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
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

// TestFullNodeRefusesEarly: a node below its reserve of free space is
// full: it refuses a new chunk before reading it (NoSpace, saying the
// node is full and the chunk must go elsewhere), while chunks it stored
// stay readable, and its gauge says so.
func TestFullNodeRefusesEarly(t *testing.T) {
	tn := startNode(t, func(c *node.Config) { c.Capacity, c.Reserve = 6<<20, 2<<20 })
	var stored []cairn.ChunkID
	var refusal *http.Response
	for range 20 {
		id, data := cairn.NewChunkID(), randomBytes(512<<10)
		resp := putReq(t, tn.Addr, id.String(), data, crcHex(data), "")
		if resp.StatusCode != http.StatusOK {
			refusal = resp
			break
		}
		resp.Body.Close()
		stored = append(stored, id)
	}
	if refusal == nil {
		t.Fatal("a node with 6 MiB of capacity took 10 MiB")
	}
	err := cairnhttp.ReadError(refusal)
	if refusal.StatusCode != http.StatusInsufficientStorage || !errors.Is(err, cairn.NoSpace) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("write to a full node: %d %v, want 507 NoSpace saying the node is full", refusal.StatusCode, err)
	}
	if len(stored) < 4 {
		t.Errorf("only %d chunks of 512 KiB fit in 6 MiB with 2 MiB reserved", len(stored))
	}
	for _, id := range stored {
		if rr := getRange(t, tn.Addr, id, ""); len(rr.Data) != 512<<10 {
			t.Fatalf("chunk %s unreadable on the full node", id)
		}
	}
	resp, err := http.Get("http://" + tn.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\ncairn_node_full 1\n") {
		t.Errorf("/metrics does not say the node is full:\n%s", grepLines(string(b), "cairn_node_f"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
