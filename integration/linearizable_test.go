package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/linearize"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/internal/testenv"
)

// TestNamespaceLinearizableUnderFaults runs concurrent SDK clients over a
// handful of contended files on a 3-peer cluster while a nemesis isolates
// the metadata leader from its peers (cutting its Raft links both ways
// would need the followers' bridges too; cutting its own outgoing links
// makes it unable to replicate, as a one-way partition does) and restarts
// the leader, then checks the recorded history against the model.
func TestNamespaceLinearizableUnderFaults(t *testing.T) {
	// Clients run until the nemesis is done, up to opsPerClient each.
	opsPerClient, faults := 1500, 4
	if testing.Short() {
		faults = 2
	}
	if testenv.Long() {
		opsPerClient, faults = 4000, 8
	}
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 3, Replication: 2, ChunkSize: 64 << 10})
	admin := c.Client()
	if _, err := admin.Mkdir(t.Context(), "/lin", client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	h := linearize.NewHistory()
	names := []string{"a", "b", "c", "d"}
	const clients = 4
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	errCount := map[string]int{}
	for i := range clients {
		cl := c.NewClient(client.Options{RetryFor: 10 * time.Second})
		d := linearize.Driver{C: cl, Dir: "/lin"}
		w := linearize.NewWorkload(i, 1, names, 48<<10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range opsPerClient {
				select {
				case <-stop:
					return
				default:
				}
				in := w.Next()
				h.Do(i, in, func() linearize.Output {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					defer cancel()
					out, err := d.Do(ctx, in)
					if err != nil {
						mu.Lock()
						errCount[fmt.Sprintf("%v: %v", in.Kind, err)]++
						mu.Unlock()
					}
					return out
				})
			}
		}()
	}

	// The nemesis: a leader cut off from its peers, then a leader stopped
	// and restarted, while the clients run; then the clients stop.
	for round := range faults {
		time.Sleep(time.Second)
		leader := c.Leader()
		if round%2 == 0 {
			t.Logf("cutting leader %s's Raft links for 3s", c.Metas[leader].ID)
			c.Metas[leader].Bridge.Cut()
			time.Sleep(3 * time.Second)
			c.Metas[leader].Bridge.Heal()
		} else {
			t.Logf("restarting leader %s", c.Metas[leader].ID)
			c.StopMeta(leader)
			time.Sleep(time.Second)
			c.StartMeta(leader)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	for e, n := range errCount {
		t.Logf("%d× %s", n, e)
	}
	v := h.Check(2 * time.Minute)
	t.Logf("%d faults; verdict: %s", faults, v)
	if v.Result != porcupine.Ok {
		t.Fatalf("the namespace history is not linearizable: %s", v)
	}
	if v.Operations < 10*faults {
		t.Fatalf("only %d operations observed anything", v.Operations)
	}
}
