package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/internal/testenv"
	"github.com/cairnfs/cairn/volume"
)

// waitHealed waits until fsck reports nothing under-replicated.
func waitHealed(t *testing.T, cl *client.Client, within time.Duration) {
	t.Helper()
	await.Until(t, within, func() error {
		entries, err := cl.Admin().Fsck(context.Background())
		if err != nil || len(entries) > 0 {
			return fmt.Errorf("%d chunks still under-replicated (err %v)", len(entries), err)
		}
		return nil
	})
}

// TestHealAfterNodeKills: five data nodes hold replicas of many files; one
// is killed, the cluster re-replicates until fsck is clean and every file
// reads back; then a second node is killed, with the same result.
func TestHealAfterNodeKills(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 5, Replication: 3, ChunkSize: 64 << 10})
	cl := c.Client()
	files := 100
	if testenv.Long() {
		files = 2000
	}
	data := func(i int) []byte { return randBytes(uint64(i), 1000+i%300*300) }
	writeConcurrently(t, cl, files, 8, func(i int) (string, []byte) { return fmt.Sprintf("/h/%04d", i), data(i) })
	for round, victim := range []int{1, 3} {
		dead := string(c.Nodes[victim].Proc.Node.ID())
		c.KillNode(victim)
		// Past the suspect timeout, short of the dead one: fsck counts
		// the node's replicas as unhealthy, repair leaves them alone.
		c.Advance(c.NodeSuspectAfter() + time.Second)
		await.Until(t, time.Minute, func() error {
			entries, err := cl.Admin().Fsck(context.Background())
			if len(entries) == 0 {
				return fmt.Errorf("fsck has not noticed the dead node (err %v)", err)
			}
			t.Logf("round %d: fsck sees %d under-replicated chunks", round+1, len(entries))
			return nil
		})
		// Past the dead timeout: repair re-replicates.
		c.Advance(c.NodeDeadAfter() - c.NodeSuspectAfter())
		start := time.Now()
		waitHealed(t, cl, 2*time.Minute)
		t.Logf("round %d: healed %v after the clock passed %s's dead timeout", round+1, time.Since(start).Round(time.Millisecond), dead)
		readConcurrently(t, cl, files, 8, func(i int) (string, []byte) { return fmt.Sprintf("/h/%04d", i), data(i) })
		for i := 0; i < files; i += 7 {
			blocks, err := cl.Locations(context.Background(), fmt.Sprintf("/h/%04d", i), 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range blocks {
				if len(b.Nodes) != 3 {
					t.Fatalf("file %d block %d: replicas %v", i, b.Offset, b.Nodes)
				}
				for _, n := range b.Nodes {
					if string(n) == dead {
						t.Fatalf("file %d still lists the dead node %s", i, dead)
					}
				}
			}
		}
	}
}

// TestCorruptReplicaRepaired flips bits in one stored replica: a read never
// returns the bad bytes, the replica is reported (by the read and by the
// scrubber), dropped and repaired from a good one.
func TestCorruptReplicaRepaired(t *testing.T) {
	for _, mode := range []string{"read", "scrubber", "encrypted scrubber"} {
		t.Run(mode, func(t *testing.T) {
			opts := testcluster.Options{Metas: 1, Nodes: 4, Replication: 3, ChunkSize: 64 << 10}
			if mode != "read" {
				opts.ScrubBytesPerSec = 64 << 20
			}
			if mode == "encrypted scrubber" {
				// The flipped byte is ciphertext: authenticated decryption
				// catches it, and the repair copy is encrypted again.
				opts.Volume.EncryptionKey = bytes.Repeat([]byte{9}, 32)
			}
			c := testcluster.New(t, opts)
			cl := c.Client()
			data := randBytes(42, 200<<10)
			mustWrite(t, cl, "/c", data)
			f, err := cl.Open(context.Background(), "/c")
			if err != nil {
				t.Fatal(err)
			}
			first := f.Chunks()[0]
			bad := string(first.Replicas[0].Node)
			flipChunkByte(t, c, c.NodeIndex(bad), first.ID)
			if mode == "read" {
				// Reads spread over the replicas at random: 40 of them
				// reach the corrupt one but with odds of (2/3)^40.
				for i := 0; i < 40; i++ {
					mustMatch(t, cl, "/c", data) // never the corrupt bytes
				}
			}
			await.Until(t, 30*time.Second, func() error {
				locs, err := cl.Locations(context.Background(), "/c", 0, -1)
				if err != nil {
					t.Fatal(err)
				}
				// The new copy goes to the fourth node when it is healthy,
				// else a fresh verified copy back to the same node.
				onBad := false
				for _, n := range locs[0].Nodes {
					onBad = onBad || string(n) == bad
				}
				if len(locs[0].Nodes) == 3 && (!onBad || c.Nodes[c.NodeIndex(bad)].Proc.Node.Store().Verify(first.ID) == nil) {
					return nil
				}
				return fmt.Errorf("corrupt replica on %s not replaced: %v", bad, locs[0].Nodes)
			})
			waitHealed(t, cl, 90*time.Second)
			mustMatch(t, cl, "/c", data)
			// Every listed replica verifies on disk.
			locs, _ := cl.Locations(context.Background(), "/c", 0, -1)
			for _, n := range locs[0].Nodes {
				if err := c.Nodes[c.NodeIndex(string(n))].Proc.Node.Store().Verify(first.ID); err != nil {
					t.Fatalf("replica on %s: %v", n, err)
				}
			}
		})
	}
}

// flipChunkByte flips one byte inside the data of a chunk on node i's disk.
func flipChunkByte(t *testing.T, c *testcluster.Cluster, i int, id cairn.ChunkID) {
	t.Helper()
	if i < 0 {
		t.Fatal("no such node")
	}
	var vol int
	var off int64
	found := false
	for _, ci := range walkStore(c.Nodes[i].Proc.Node.Store()) {
		if ci.ID == id {
			vol, off, found = ci.Volume, ci.Offset, true
		}
	}
	if !found {
		t.Fatalf("chunk not on node %d", i)
	}
	path := filepath.Join(c.Nodes[i].Dir, "volumes", fmt.Sprintf("%08d.vol", vol))
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	at := off + 48 + 1000 // the record header is 48 bytes (docs/format.md)
	b := make([]byte, 1)
	if _, err := fh.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := fh.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
}

// TestGarbageCollected: chunks of removed and overwritten files are deleted
// from the data nodes.
func TestGarbageCollected(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 3, Replication: 2, ChunkSize: 64 << 10})
	cl := c.Client()
	writeConcurrently(t, cl, 200, 8, func(i int) (string, []byte) { return fmt.Sprintf("/g/%03d", i), randBytes(uint64(i), 100<<10) })
	mustWrite(t, cl, "/keep", randBytes(1, 10))
	mustWrite(t, cl, "/keep", []byte("overwritten"))
	if _, err := cl.Remove(context.Background(), "/g", client.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	await.Until(t, 90*time.Second, func() error {
		total := int64(0)
		for _, n := range c.Nodes {
			total += n.Proc.Node.Store().Stats().Chunks
		}
		if total != 2 { // /keep's one chunk, twice
			return fmt.Errorf("%d chunks left on the nodes, want 2", total)
		}
		return nil
	})
	mustMatch(t, cl, "/keep", []byte("overwritten"))
}

// TestDrainEmptiesNode: a drained node ends with no chunks, and nothing is
// under-replicated; every file stays readable throughout.
func TestDrainEmptiesNode(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 4, Replication: 3, ChunkSize: 64 << 10})
	cl := c.Client()
	data := func(i int) []byte { return randBytes(uint64(i), 500+i*200) }
	writeConcurrently(t, cl, 120, 8, func(i int) (string, []byte) { return fmt.Sprintf("/d/%03d", i), data(i) })
	victim := c.Nodes[2].Proc.Node
	if victim.Store().Stats().Chunks == 0 {
		t.Fatal("the node to drain holds nothing to begin with")
	}
	if err := cl.Admin().Drain(context.Background(), victim.ID(), client.DrainOptions{}); err != nil {
		t.Fatal(err)
	}
	// Every file stays readable while the node empties.
	await.UntilEvery(t, 60*time.Second, 200*time.Millisecond, func() error {
		if n := victim.Store().Stats().Chunks; n > 0 {
			readConcurrently(t, cl, 120, 4, func(i int) (string, []byte) { return fmt.Sprintf("/d/%03d", i), data(i) })
			return fmt.Errorf("drained node still holds %d chunks", n)
		}
		return nil
	})
	waitHealed(t, cl, 90*time.Second)
	// New writes avoid the draining node (a fresh client: the old one may
	// hold allocations made before the drain, which is harmless).
	fresh := c.NewClient(client.Options{})
	mustWrite(t, fresh, "/d/new", []byte("after the drain"))
	blocks, _ := cl.Locations(context.Background(), "/d/new", 0, -1)
	for _, n := range blocks[0].Nodes {
		if n == victim.ID() {
			t.Fatal("a new chunk was placed on the draining node")
		}
	}
	readConcurrently(t, cl, 120, 4, func(i int) (string, []byte) { return fmt.Sprintf("/d/%03d", i), data(i) })
}

// TestReturningNodeReconciles: a node that was down while its files were
// deleted and its chunks re-replicated drops every chunk it no longer
// needs when it comes back.
func TestReturningNodeReconciles(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 4, Replication: 3, ChunkSize: 64 << 10})
	cl := c.Client()
	writeConcurrently(t, cl, 60, 8, func(i int) (string, []byte) { return fmt.Sprintf("/r/%02d", i), randBytes(uint64(i), 3000) })
	c.StopNode(0)
	if _, err := cl.Remove(context.Background(), "/r", client.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "/other", randBytes(5, 1000))
	// Past the dead timeout: repair re-replicates /other elsewhere.
	c.Advance(c.NodeDeadAfter() + time.Second)
	waitHealed(t, cl, 90*time.Second)
	c.StartNode(0)
	n := c.Nodes[0].Proc.Node
	// The only chunk the node may hold afterwards is /other's, if the
	// rebalancer places a replica of it there.
	f, err := cl.Open(context.Background(), "/other")
	if err != nil {
		t.Fatal(err)
	}
	other := f.Chunks()[0].ID
	await.Until(t, 90*time.Second, func() error {
		left := 0
		for _, ci := range walkStore(n.Store()) {
			if ci.ID != other {
				left++
			}
		}
		if left > 0 {
			return fmt.Errorf("returned node still holds %d chunks of deleted files", left)
		}
		return nil
	})
	mustMatch(t, cl, "/other", randBytes(5, 1000))
}

// TestRebalanceOnJoin: two nodes join a full three-node cluster; after
// rebalancing every node's usage is within 10 % of the mean, no chunk ever
// drops below its replication, and every file stays readable during the
// move.
func TestRebalanceOnJoin(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 3, Replication: 2, ChunkSize: 4 << 10,
		ZoneOf: func(i int) string { return fmt.Sprintf("z%d", i) }})
	cl := c.Client()
	// Enough chunks that sampling noise (≈ 3.5 % per node) stays well
	// inside the 10 % bound.
	const files = 3000
	data := func(i int) []byte { return randBytes(uint64(i), 4<<10) } // one chunk each
	writeConcurrently(t, cl, files, 8, func(i int) (string, []byte) { return fmt.Sprintf("/b/%03d", i), data(i) })
	c.AddNode()
	c.AddNode()
	c.WaitNodes(5)
	usage := func() []int64 {
		var u []int64
		for _, n := range c.Nodes {
			u = append(u, n.Proc.Node.Store().Stats().LiveBytes)
		}
		return u
	}
	// Done when the surplus copies are gone and every chunk sits exactly
	// on the replica set the ring now computes for it. (How evenly the
	// ring spreads chunks depends on the nodes' random IDs, so comparing
	// usage with the mean would test the ring's luck, not the rebalancer.)
	const want = files * 2 * (4 << 10)
	misplaced := func() (int, error) {
		reg := c.Metas[c.Leader()].Proc.Server.Registry()
		bad := 0
		for i := 0; i < files; i++ {
			f, err := cl.Open(context.Background(), fmt.Sprintf("/b/%03d", i))
			if err != nil {
				return 0, err
			}
			for _, ch := range f.Chunks() {
				set, err := reg.Pick(ch.ID, 2, nil)
				if err != nil {
					f.Close()
					return 0, err
				}
				on := map[cairn.NodeID]bool{}
				for _, r := range ch.Replicas {
					on[r.Node] = true
				}
				for _, r := range set {
					if !on[cairn.NodeID(r.Node)] {
						bad++
					}
				}
			}
			f.Close()
		}
		return bad, nil
	}
	await.UntilEvery(t, 2*time.Minute, 200*time.Millisecond, func() error {
		u := usage()
		var sum int64
		for _, x := range u {
			sum += x
		}
		if sum == want {
			bad, err := misplaced()
			if err == nil && bad == 0 {
				return nil
			}
			if err != nil {
				return fmt.Errorf("checking placement: %w", err)
			}
			return fmt.Errorf("%d replicas not yet where the ring puts them; usage %v", bad, u)
		}
		// Readable throughout, and never below two replicas.
		readConcurrently(t, cl, 300, 4, func(i int) (string, []byte) { return fmt.Sprintf("/b/%03d", i*10), data(i * 10) })
		if entries, err := cl.Admin().Fsck(context.Background()); err == nil && len(entries) > 0 {
			t.Fatalf("%d chunks under-replicated during the rebalance", len(entries))
		}
		return fmt.Errorf("not balanced: usage %v, %d of %d bytes", u, sum, want)
	})
	for i, x := range usage() {
		if x == 0 {
			t.Errorf("node %d holds nothing after the rebalance", i)
		}
	}
	t.Logf("balanced: usage per node %v", usage())
	readConcurrently(t, cl, files, 4, func(i int) (string, []byte) { return fmt.Sprintf("/b/%03d", i), data(i) })
}

// TestLeaderKilledDuringRepair: the metadata leader is stopped while it
// re-replicates a dead node's chunks; the new leader resumes the repair,
// fsck reaches zero, and no chunk lists a replica twice or loses data.
func TestLeaderKilledDuringRepair(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 5, Replication: 3, ChunkSize: 32 << 10})
	cl := c.NewClient(client.Options{RetryFor: 60 * time.Second})
	const files = 200
	data := func(i int) []byte { return randBytes(uint64(i), 40<<10) }
	writeConcurrently(t, cl, files, 8, func(i int) (string, []byte) { return fmt.Sprintf("/k/%03d", i), data(i) })
	c.KillNode(4)
	c.Advance(c.NodeDeadAfter() + time.Second)
	// Wait until the leader has started repairing, then stop it.
	await.Until(t, time.Minute, func() error {
		st, err := cl.Admin().Status(context.Background())
		if err != nil || st.Repair == nil || st.Repair.Repaired == 0 {
			return fmt.Errorf("repair has not started (status error %v)", err)
		}
		t.Logf("leader repaired %d chunks before it was stopped", st.Repair.Repaired)
		return nil
	})
	c.StopMeta(c.Leader())
	// The new leader gives every node a fresh grace period (it has not
	// heard from them yet): past it, node 4 is dead to it as well.
	c.Advance(c.NodeDeadAfter() + time.Second)
	waitHealed(t, cl, 2*time.Minute)
	// Progress is visible to Prometheus and the REST API on the new leader.
	leader := c.Metas[c.Leader()]
	for _, url := range []string{c.URL(leader.HTTPAddr, "/metrics"), c.URL(leader.HTTPAddr, "/v1/cluster")} {
		resp, err := c.HTTPClient(nil).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `cairn_meta_repair{what="repaired"}`) && !strings.Contains(string(body), `"repaired":`) {
			t.Fatalf("%s shows no repair progress:\n%.2000s", url, body)
		}
	}
	readConcurrently(t, cl, files, 8, func(i int) (string, []byte) { return fmt.Sprintf("/k/%03d", i), data(i) })
	for i := 0; i < files; i++ {
		blocks, err := cl.Locations(context.Background(), fmt.Sprintf("/k/%03d", i), 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			seen := map[string]bool{}
			for _, n := range b.Nodes {
				if seen[string(n)] {
					t.Fatalf("file %d lists %s twice", i, n)
				}
				seen[string(n)] = true
			}
			if len(b.Nodes) != 3 {
				t.Fatalf("file %d block %d has replicas %v", i, b.Offset, b.Nodes)
			}
		}
	}
}

// TestWorkloadThroughHealAndRebalance runs concurrent writers and readers
// through a node kill, the heal, two joins and the rebalance; no operation
// may fail.
func TestWorkloadThroughHealAndRebalance(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 4, Replication: 3, ChunkSize: 32 << 10})
	cl := c.NewClient(client.Options{RetryFor: 60 * time.Second})
	data := func(i int) []byte { return randBytes(uint64(i), 20<<10+i) }
	writeConcurrently(t, cl, 100, 8, func(i int) (string, []byte) { return fmt.Sprintf("/w/%05d", i), data(i) })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	var written atomic.Int64
	written.Store(100)
	for w := 0; w < 4; w++ {
		wg.Add(2)
		go func() { // writer: bounded count, stops when told
			defer wg.Done()
			for n := 0; n < 5000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := int(written.Add(1)) - 1
				if _, err := cl.WriteFile(context.Background(), fmt.Sprintf("/w/%05d", i), bytesReader(data(i)), client.WriteOptions{}); err != nil {
					errs <- fmt.Errorf("write %d: %w", i, err)
					return
				}
			}
		}()
		go func() { // reader of files known to exist
			defer wg.Done()
			for n := 0; n < 20000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := n % 100
				got, err := readAll(cl, fmt.Sprintf("/w/%05d", i))
				if err == nil && !bytes.Equal(got, data(i)) {
					err = fmt.Errorf("content differs")
				}
				if err != nil {
					errs <- fmt.Errorf("read %d: %w", i, err)
					return
				}
			}
		}()
	}
	c.KillNode(0)
	c.Advance(c.NodeDeadAfter() + time.Second) // node 0 is dead: repair runs under the workload
	waitHealed(t, cl, 2*time.Minute)
	c.AddNode()
	c.AddNode()
	// Pacing, not a timeout: the workload keeps running for a while as
	// the rebalancer moves replicas to the new nodes.
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitHealed(t, cl, 2*time.Minute)
	n := int(written.Load())
	t.Logf("%d files written during kill, heal, joins and rebalance", n-100)
	readConcurrently(t, cl, n, 8, func(i int) (string, []byte) { return fmt.Sprintf("/w/%05d", i), data(i) })
}

// TestGCAcrossLeaderChange stops the metadata leader while it collects the
// chunks of 300 removed files: every kept file stays intact, and the new
// leader finishes the collection.
func TestGCAcrossLeaderChange(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 3, Replication: 2, ChunkSize: 16 << 10})
	cl := c.NewClient(client.Options{RetryFor: 60 * time.Second})
	keep := func(i int) []byte { return randBytes(uint64(1000+i), 30<<10) }
	writeConcurrently(t, cl, 100, 8, func(i int) (string, []byte) { return fmt.Sprintf("/keep/%03d", i), keep(i) })
	writeConcurrently(t, cl, 300, 8, func(i int) (string, []byte) { return fmt.Sprintf("/drop/%03d", i), randBytes(uint64(i), 30<<10) })
	chunks := func() int64 {
		var n int64
		for _, d := range c.Nodes {
			n += d.Proc.Node.Store().Stats().Chunks
		}
		return n
	}
	want := int64(100 * 2 * 2) // 100 files, 2 chunks each, 2 replicas
	if _, err := cl.Remove(context.Background(), "/drop", client.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	// Stop the leader as soon as collection has begun.
	before := chunks()
	// Polled every millisecond: the point is to stop the leader mid-way.
	await.UntilEvery(t, time.Minute, time.Millisecond, func() error {
		if chunks() == before {
			return errors.New("collection has not begun")
		}
		return nil
	})
	c.StopMeta(c.Leader())
	await.Until(t, 2*time.Minute, func() error {
		if n := chunks(); n != want {
			return fmt.Errorf("%d chunks on the nodes, want %d", n, want)
		}
		return nil
	})
	readConcurrently(t, cl, 100, 8, func(i int) (string, []byte) { return fmt.Sprintf("/keep/%03d", i), keep(i) })
}

// TestDeletedSpaceComesBack: 10,000 files are deleted; the collector removes
// their chunks from the data node and compaction returns the space on disk.
func TestDeletedSpaceComesBack(t *testing.T) {
	files := 2000
	if testenv.Long() {
		files = 10000
	}
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 1, Replication: 1, ChunkSize: 64 << 10,
		Volume: volume.Options{MaxVolumeSize: 1 << 20, CompactInterval: 100 * time.Millisecond}})
	cl := c.Client()
	writeConcurrently(t, cl, files, 16, func(i int) (string, []byte) { return fmt.Sprintf("/del/%05d", i), randBytes(uint64(i), 2000) })
	keep := randBytes(7, 5000)
	mustWrite(t, cl, "/kept", keep)
	volDir := filepath.Join(c.Nodes[0].Dir, "volumes")
	before := dirBytes(t, volDir)
	if _, err := cl.Remove(context.Background(), "/del", client.RemoveOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	await.Until(t, 2*time.Minute, func() error {
		now := dirBytes(t, volDir)
		if now >= before/10 {
			return fmt.Errorf("volume files still hold %d of %d bytes", now, before)
		}
		t.Logf("volume files: %d bytes before the delete, %d after collection and compaction", before, now)
		return nil
	})
	mustMatch(t, cl, "/kept", keep)
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// TestAbandonedUploadCollected: an upload whose client gave up halfway is
// expired and its chunks are deleted from the data nodes.
func TestAbandonedUploadCollected(t *testing.T) {
	const expiry = 2 * time.Second
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 2, Replication: 2, ChunkSize: 64 << 10, UploadExpiry: expiry})
	cl := c.NewClient(client.Options{Concurrency: 1})
	src := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(src, randBytes(3, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := cl.PutFile(ctx, src, "/abandoned", client.PutOptions{Progress: func(done, total int64) {
		if done >= total/4 {
			cancel() // the client gives up a quarter of the way in
		}
	}})
	if err == nil {
		t.Fatal("the cancelled upload succeeded")
	}
	stored := func() int64 {
		return c.Nodes[0].Proc.Node.Store().Stats().Chunks + c.Nodes[1].Proc.Node.Store().Stats().Chunks
	}
	if stored() == 0 {
		t.Fatal("no chunk landed before the client gave up")
	}
	c.Advance(expiry)
	await.Until(t, 90*time.Second, func() error {
		if n := stored(); n > 0 {
			return fmt.Errorf("%d chunks of the abandoned upload are still stored", n)
		}
		return nil
	})
	if _, err := cl.Stat(context.Background(), "/abandoned"); err == nil {
		t.Fatal("the abandoned upload became a file")
	}
}
