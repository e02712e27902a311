package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testenv"
)

// TestHealAfterKill9: five data node processes hold replicas of 2,000
// files; one is killed with SIGKILL, and after the dead timeout `cairn fsck`
// reaches zero and every file reads back byte for byte; then a second node
// is killed after the first heal, with the same result.
func TestHealAfterKill9(t *testing.T) {
	c := startClusterN(t, 5, 3)
	cl, err := client.Dial(strings.Split(c.meta, ","), client.Options{TLS: c.adminTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	files := 400
	if testenv.Long() {
		files = 2000
	}
	content := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("file %d;", i)), 50+i%200) }
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < files; i += 16 {
				if _, err := cl.WriteFile(ctx, fmt.Sprintf("/heal/%04d", i), bytes.NewReader(content(i)), client.WriteOptions{Parents: true}); err != nil {
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
	for round, victim := range []int{0, 2} {
		c.nodes[victim].kill()
		start := time.Now()
		// fsck may call the cluster clean before the dead timeout (6s) has
		// passed and the leader noticed the loss: only later answers count.
		await.UntilEvery(t, 3*time.Minute, 500*time.Millisecond, func() error {
			out, err := cli(t, c.meta, "fsck")
			if err != nil || !strings.HasPrefix(out, "ok") {
				return fmt.Errorf("round %d: fsck not clean: %v\n%.3000s", round+1, err, out)
			}
			if time.Since(start) <= 6*time.Second {
				return errors.New("fsck is clean, but the dead timeout has not passed yet")
			}
			return nil
		})
		t.Logf("round %d: fsck clean %v after kill -9 of node%d", round+1, time.Since(start).Round(100*time.Millisecond), victim+1)
		for i := 0; i < files; i++ {
			f, err := cl.Open(ctx, fmt.Sprintf("/heal/%04d", i))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := f.WriteTo(&buf); err != nil {
				t.Fatalf("round %d, file %d: %v", round+1, i, err)
			}
			if !bytes.Equal(buf.Bytes(), content(i)) {
				t.Fatalf("round %d, file %d differs", round+1, i)
			}
		}
	}
	out, _ := cli(t, c.meta, "cluster", "status")
	if !strings.Contains(out, "repair:") || strings.Count(out, " dead ") != 2 {
		t.Fatalf("cluster status does not show two dead nodes and repair progress:\n%s", out)
	}
}

// TestKillMetaLeaderDuringRepair: a data node is killed, and once the
// metadata leader is re-replicating its chunks the leader process is killed
// with SIGKILL too; the new leader finishes the repair, `cairn fsck` reaches
// zero and every file is intact.
func TestKillMetaLeaderDuringRepair(t *testing.T) {
	c := startClusterN(t, 4, 3)
	cl, err := client.Dial(strings.Split(c.meta, ","), client.Options{RetryFor: time.Minute, TLS: c.adminTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	files := 200
	if testenv.Long() {
		files = 600
	}
	content := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("leader %d;", i)), 100+i%300) }
	ctx := context.Background()
	for i := 0; i < files; i++ {
		if _, err := cl.WriteFile(ctx, fmt.Sprintf("/lk/%04d", i), bytes.NewReader(content(i)), client.WriteOptions{Parents: true}); err != nil {
			t.Fatal(err)
		}
	}
	idBytes, err := os.ReadFile(filepath.Join(c.ndirs[1], "node-id"))
	if err != nil {
		t.Fatal(err)
	}
	deadNode := strings.TrimSpace(string(idBytes))
	c.nodes[1].kill()
	var leader string
	await.Until(t, 2*time.Minute, func() error {
		st, err := cl.Admin().Status(ctx)
		if err != nil || st.Repair == nil || st.Repair.Repaired == 0 {
			return fmt.Errorf("repair has not started: %v", err)
		}
		leader = st.LeaderID
		t.Logf("leader %s has repaired %d chunks; killing it", leader, st.Repair.Repaired)
		return nil
	})
	c.metas[leader].kill()
	killed := time.Now()
	await.UntilEvery(t, 3*time.Minute, 500*time.Millisecond, func() error {
		// The new leader gives every node a fresh dead timeout (6s) from
		// its election; until it has declared the killed node dead, that
		// node's replicas still count as healthy. So first the node must be
		// dead to the current leader, and then fsck clean.
		st, err := cl.Admin().Status(ctx)
		if err != nil {
			return err
		}
		if n, ok := st.Node(cairn.NodeID(deadNode)); !ok || n.State != cairn.NodeDead {
			return fmt.Errorf("leader %s does not yet see %s as dead (%v since the old leader was killed)", st.LeaderID, deadNode, time.Since(killed).Round(time.Second))
		}
		out, err := cli(t, c.meta, "fsck")
		if err != nil || !strings.HasPrefix(out, "ok") {
			return fmt.Errorf("fsck not clean after the leader was killed: %v\n%.3000s", err, out)
		}
		return nil
	})
	for i := 0; i < files; i++ {
		f, err := cl.Open(ctx, fmt.Sprintf("/lk/%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), content(i)) {
			t.Fatalf("file %d after the leader's death: %v", i, err)
		}
		for _, ch := range f.Chunks() {
			seen := map[cairn.NodeID]bool{}
			for _, r := range ch.Replicas {
				if seen[r.Node] {
					t.Fatalf("file %d lists %s twice", i, r.Node)
				}
				if string(r.Node) == deadNode {
					t.Fatalf("file %d still lists the dead node %s", i, deadNode)
				}
				seen[r.Node] = true
			}
			if len(ch.Replicas) != 3 {
				t.Fatalf("file %d has %d replicas", i, len(ch.Replicas))
			}
		}
	}
}
