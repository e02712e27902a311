package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestLaggingPeerCatchesUp stops a metadata follower, writes enough that
// the leader snapshots and truncates its log, restarts the follower (which
// must install the streamed snapshot), and reads the new files from that
// follower alone with stale reads.
func TestLaggingPeerCatchesUp(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1, Replication: 1, SnapshotEntries: 64})
	cl := c.Client()
	leader := c.Leader()
	follower := (leader + 1) % 3
	c.StopMeta(follower)
	const files = 400
	writeConcurrently(t, cl, files, 8, func(i int) (string, []byte) { return fmt.Sprintf("/lag/%03d", i), []byte(fmt.Sprint(i)) })
	// Let the leader take a snapshot that covers the new entries.
	time.Sleep(time.Second)
	target := c.Metas[c.Leader()].Proc.Server.AppliedIndex()
	c.StartMeta(follower)
	fs := c.Metas[follower].Proc.Server
	deadline := time.Now().Add(30 * time.Second)
	for fs.AppliedIndex() < target {
		if time.Now().After(deadline) {
			t.Fatalf("follower applied %d, leader had %d", fs.AppliedIndex(), target)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stats := fs.Raft().Stats()
	t.Logf("follower caught up: applied %d, last snapshot index %s", fs.AppliedIndex(), stats["last_snapshot_index"])
	stale, err := client.Dial([]string{c.Metas[follower].GRPCAddr}, client.Options{StaleReads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	list, err := stale.ReadDir(context.Background(), "/lag")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != files {
		t.Fatalf("follower lists %d files, want %d", len(list), files)
	}
	mustMatch(t, stale, "/lag/399", []byte("399"))
}
