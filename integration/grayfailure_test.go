package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/faultnet"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/internal/testenv"
	"github.com/cairnfs/cairn/node"
)

// TestFrozenDataNodeNeverStallsWrites freezes one of five data nodes as
// the rest of the cluster sees it (its data port takes connections and
// holds every byte, as a stopped process does, while its heartbeats still reach the metadata
// service, so nothing marks it down) during a write workload with
// replication 3. Every write must succeed, and none may wait out the
// freeze: the first replica gives a frozen next hop up after its
// patience, the client gives a frozen first replica up after its own, and
// the chunk goes to a replica set without the node.
func TestFrozenDataNodeNeverStallsWrites(t *testing.T) {
	freeze, writers := 12*time.Second, 4
	if testing.Short() {
		freeze = 6 * time.Second
	}
	if testenv.Long() {
		freeze = 30 * time.Second
	}
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 5, Replication: 3, ChunkSize: 256 << 10, Links: true})
	frozen := c.Nodes[2]

	type result struct {
		took time.Duration
		err  error
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		cl := c.NewClient(client.Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				data := testcluster.RandBytes(uint64(w*100000+i), 1000+(i*7919)%(700<<10))
				p := fmt.Sprintf("/gray/w%d/f%05d", w, i)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				began := time.Now()
				_, err := cl.WriteFile(ctx, p, bytes.NewReader(data), client.WriteOptions{Parents: true})
				took := time.Since(began)
				if took > 5*time.Second {
					t.Logf("slow write %s (%d bytes): %v", p, len(data), took)
				}
				if err == nil {
					var f *client.File
					if f, err = cl.Open(ctx, p); err == nil {
						var got []byte
						if got, err = io.ReadAll(f); err == nil && !bytes.Equal(got, data) {
							err = fmt.Errorf("%s read back different bytes", p)
						}
					}
				}
				cancel()
				mu.Lock()
				results = append(results, result{took, err})
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	t.Logf("freezing data node at %s for %v", frozen.DataAddr(), freeze)
	frozen.Link.Set(faultnet.Both, faultnet.Fault{Mode: faultnet.Hold})
	time.Sleep(freeze)
	// The clients and nodes that gave up on it reported it: placement
	// prefers the other nodes.
	st, err := c.Client().Admin().Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.ID == frozen.Proc.Node.ID() && !n.Slow {
			t.Errorf("the frozen node is not reported slow: %+v", n)
		}
	}
	frozen.Link.Heal()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	var longest time.Duration
	failed := 0
	for _, r := range results {
		longest = max(longest, r.took)
		if r.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("write failed: %v", r.err)
			}
		}
	}
	t.Logf("%d writes, %d failed, longest %v", len(results), failed, longest.Round(time.Millisecond))
	if len(results) < writers {
		t.Fatalf("only %d writes finished", len(results))
	}
	if longest > 10*time.Second {
		t.Errorf("a write took %v with one node frozen; want at most 10s", longest)
	}
}

// TestFullNodeIsAState fills one of four data nodes under a write
// workload with replication 2: no write fails while the others have room,
// the node shows as full in the cluster status, and it then gets no new
// chunks. All four offer the same capacity, but the first one's disk
// (as a disk filled by something else would) has only a few MiB above
// its reserve: the test sets its reserve to the file system's free space
// less 6 MiB.
func TestFullNodeIsAState(t *testing.T) {
	var st unix.Statfs_t
	dir := t.TempDir()
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < 1<<30 {
		t.Skipf("only %d bytes free here", free)
	}
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 4, Replication: 2, ChunkSize: 256 << 10,
		NodeConfig: func(i int, nc *node.Config) {
			nc.Capacity = 2 * free // the same weight for all four: the free space
			if i == 0 {
				nc.Reserve = free - 6<<20
			}
		}})
	cl := c.Client()
	ctx := t.Context()
	fullID := c.Nodes[0].Proc.Node.ID()
	nodeFull := func() bool {
		st, err := cl.Admin().Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range st.Nodes {
			if n.ID == fullID {
				return n.Full
			}
		}
		t.Fatalf("node %s not in the status", fullID)
		return false
	}
	written, wasFullAt := 0, -1
	for i := range 120 {
		data := testcluster.RandBytes(uint64(i), 300<<10)
		if _, err := cl.WriteFile(ctx, fmt.Sprintf("/fill/%03d", i), bytes.NewReader(data), client.WriteOptions{Parents: true}); err != nil {
			t.Fatalf("write %d with one node filling up: %v", i, err)
		}
		written++
		if wasFullAt < 0 && nodeFull() {
			wasFullAt = i
		}
	}
	if wasFullAt < 0 {
		t.Fatal("the small node never showed as full")
	}
	t.Logf("node %s full after %d writes; %d writes in all, none failed", fullID, wasFullAt+1, written)
	chunksBefore := c.Nodes[0].Proc.Node.Store().Stats().Chunks
	for i := range 20 {
		if _, err := cl.WriteFile(ctx, fmt.Sprintf("/after/%03d", i), bytes.NewReader(testcluster.RandBytes(uint64(1000+i), 300<<10)), client.WriteOptions{Parents: true}); err != nil {
			t.Fatal(err)
		}
	}
	if after := c.Nodes[0].Proc.Node.Store().Stats().Chunks; after != chunksBefore {
		t.Errorf("the full node got %d new chunks", after-chunksBefore)
	}
	for i := range written {
		f, err := cl.Open(ctx, fmt.Sprintf("/fill/%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, testcluster.RandBytes(uint64(i), 300<<10)) {
			t.Fatalf("file %d reads back wrong: %v", i, err)
		}
	}
}
