package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testenv"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// freeze stops p and everything it started (SIGSTOP to its process
// group), as a stuck disk or a hung kernel would; thaw resumes it. The
// test's cleanup kills it either way.
func (p *proc) freeze() { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGSTOP) }
func (p *proc) thaw()   { syscall.Kill(-p.cmd.Process.Pid, syscall.SIGCONT) }

// grayWrite is one write of the workload: when it started and ended.
type grayWrite struct {
	began, ended time.Time
	err          error
}

// grayWorkload writes and reads back files from a few SDK clients until
// stopped, recording every write.
type grayWorkload struct {
	mu     sync.Mutex
	writes []grayWrite
	stop   chan struct{}
	wg     sync.WaitGroup
}

func startGrayWorkload(t *testing.T, c *cluster, writers int) *grayWorkload {
	w := &grayWorkload{stop: make(chan struct{})}
	for k := range writers {
		cl, err := client.Dial(strings.Split(c.meta, ","), client.Options{TLS: c.adminTLS(t), ChunkSize: 256 << 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				data := bytes.Repeat([]byte(fmt.Sprintf("gray %d %d;", k, i)), 100+(i*37)%20000)
				p := fmt.Sprintf("/gray/w%d/%06d", k, i)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				began := time.Now()
				_, err := cl.WriteFile(ctx, p, bytes.NewReader(data), client.WriteOptions{Parents: true})
				ended := time.Now()
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
				w.mu.Lock()
				w.writes = append(w.writes, grayWrite{began, ended, err})
				w.mu.Unlock()
			}
		}()
	}
	return w
}

// since returns the writes that ended after t, in order of their end.
func (w *grayWorkload) since(t time.Time) []grayWrite {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []grayWrite
	for _, x := range w.writes {
		if x.ended.After(t) {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b grayWrite) int { return a.ended.Compare(b.ended) })
	return out
}

func (w *grayWorkload) finish() []grayWrite {
	close(w.stop)
	w.wg.Wait()
	return w.since(time.Time{})
}

// TestFrozenProcesses freezes real processes with SIGSTOP during a write
// workload on 3 metadata peers and 5 data nodes (replication 3): first a
// data node, then the metadata leader. Every write must succeed; with the
// node frozen none may take longer than 10 s, and with the leader frozen
// writes must complete again within 5 s of the new leader's election.
func TestFrozenProcesses(t *testing.T) {
	nodeFreeze, leaderFreeze := 15*time.Second, 12*time.Second
	if testing.Short() {
		nodeFreeze, leaderFreeze = 8*time.Second, 8*time.Second
	}
	if testenv.Long() {
		nodeFreeze, leaderFreeze = 30*time.Second, 20*time.Second
	}
	c := startClusterN(t, 5, 3)
	admin, err := client.Dial(strings.Split(c.meta, ","), client.Options{TLS: c.adminTLS(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	w := startGrayWorkload(t, c, 3)
	time.Sleep(2 * time.Second)

	// A data node frozen.
	frozen := c.nodes[2]
	t.Logf("freezing data node %s for %v", frozen.name, nodeFreeze)
	from := time.Now()
	frozen.freeze()
	time.Sleep(nodeFreeze)
	frozen.thaw()
	time.Sleep(2 * time.Second)
	var longest time.Duration
	n := 0
	for _, x := range w.since(from) {
		n++
		longest = max(longest, x.ended.Sub(x.began))
		if x.err != nil {
			t.Errorf("write with a data node frozen: %v", x.err)
		}
	}
	t.Logf("data node frozen for %v: %d writes, longest %v", nodeFreeze, n, longest.Round(time.Millisecond))
	if n == 0 {
		t.Fatal("no write completed with a data node frozen")
	}
	if longest > 10*time.Second {
		t.Errorf("a write took %v with one data node frozen; want at most 10s", longest)
	}

	// The metadata leader frozen.
	ctx := t.Context()
	st, err := admin.Admin().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old := st.LeaderID
	t.Logf("freezing metadata leader %s for %v", old, leaderFreeze)
	frozeAt := time.Now()
	c.metas[old].freeze()
	// The election time, as the other peers see it: each is asked every
	// 100 ms, on a connection of its own, whether it leads.
	var elected time.Time
	var others []pb.ClusterClient
	for _, addr := range strings.Split(c.meta, ",") {
		if addr == st.LeaderAddr {
			continue
		}
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(c.adminTLS(t).GRPCClient()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		others = append(others, pb.NewClusterClient(cc))
	}
	for time.Since(frozeAt) < leaderFreeze {
		for _, o := range others {
			if !elected.IsZero() {
				break
			}
			qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			resp, err := o.Peers(qctx, &pb.PeersRequest{})
			cancel()
			if err == nil && resp.ResponderIsLeader {
				elected = time.Now()
				t.Logf("%s elected %v after the freeze", resp.ResponderId, elected.Sub(frozeAt).Round(time.Millisecond))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.metas[old].thaw()
	time.Sleep(2 * time.Second)
	writes := w.finish()
	if elected.IsZero() {
		t.Fatalf("no new leader within %v of freezing %s", leaderFreeze, old)
	}
	var resumed time.Time
	for _, x := range w.since(elected) {
		if x.err == nil {
			resumed = x.ended
			break
		}
	}
	if resumed.IsZero() {
		t.Fatal("no write completed after the new leader's election")
	}
	t.Logf("leader frozen: first write completed %v after the election", resumed.Sub(elected).Round(time.Millisecond))
	if d := resumed.Sub(elected); d > 5*time.Second {
		t.Errorf("writes resumed %v after the new leader's election; want within 5s", d)
	}
	failed := 0
	for _, x := range writes {
		if x.err != nil {
			failed++
			if failed <= 5 {
				t.Errorf("write failed: %v", x.err)
			}
		}
	}
	t.Logf("%d writes in all, %d failed", len(writes), failed)
}
