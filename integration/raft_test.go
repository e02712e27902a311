package integration

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
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
	// Let the leader take a snapshot that covers the new entries: Raft
	// snapshots once SnapshotEntries (64) entries have piled up, so in the
	// end at most that many are left after the last snapshot.
	ls := c.Metas[c.Leader()].Proc.Server
	target := ls.AppliedIndex()
	await.Until(t, time.Minute, func() error {
		snap, _ := strconv.ParseUint(ls.Raft().Stats()["last_snapshot_index"], 10, 64)
		if snap+64 < target {
			return fmt.Errorf("the leader's last snapshot is at %d, applied %d", snap, target)
		}
		return nil
	})
	c.StartMeta(follower)
	fs := c.Metas[follower].Proc.Server
	await.Until(t, time.Minute, func() error {
		if got := fs.AppliedIndex(); got < target {
			return fmt.Errorf("follower applied %d, leader had %d", got, target)
		}
		return nil
	})
	stats := fs.Raft().Stats()
	t.Logf("follower caught up: applied %d, last snapshot index %s", fs.AppliedIndex(), stats["last_snapshot_index"])
	stale, err := client.Dial([]string{c.Metas[follower].GRPCAddr}, client.Options{StaleReads: true, TLS: c.AdminCert()})
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
