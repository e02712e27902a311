package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/linearize"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/internal/testenv"
)

// TestChaosCampaign runs a bounded chaos campaign against a multi-process
// cluster (3 metadata peers, 5 data nodes, replication 3): clients record
// a history of namespace operations over a few contended files and write
// files whose acknowledgement they note, while a nemesis, one fault at a
// time, kills data nodes and the metadata leader with SIGKILL and
// restarts them, freezes them with SIGSTOP, and flips bits in volume
// files. At the end every acknowledged write must read back intact (0
// lost, 0 corrupt) and the namespace history must be linearizable.
//
// It runs about a minute by default; CAIRN_CHAOS_DURATION (a Go
// duration, e.g. 2h) runs it longer, CAIRN_CHAOS_SEED replays a fault
// schedule. It prints one summary line (docs/reliability.md).
func TestChaosCampaign(t *testing.T) {
	dur := 45 * time.Second
	if testing.Short() {
		dur = 20 * time.Second
	}
	if testenv.Long() {
		dur = 75 * time.Second
	}
	if v := os.Getenv("CAIRN_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CAIRN_CHAOS_DURATION=%q: %v", v, err)
		}
		dur = d
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CAIRN_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CAIRN_CHAOS_SEED=%q: %v", v, err)
		}
		seed = s
	}
	t.Logf("chaos campaign: %v, seed %d (CAIRN_CHAOS_SEED=%d replays the schedule)", dur, seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))

	c := startClusterN(t, 5, 3)
	dial := func() *client.Client {
		cl, err := client.Dial(strings.Split(c.meta, ","), client.Options{TLS: c.adminTLS(t), ChunkSize: 256 << 10, RetryFor: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		return cl
	}
	admin := dial()
	if _, err := admin.Mkdir(t.Context(), "/lin", client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}

	// The namespace history.
	h := linearize.NewHistory()
	names := []string{"a", "b", "c", "d"}
	for k := range 3 {
		d := linearize.Driver{C: dial(), Dir: "/lin"}
		w := linearize.NewWorkload(k, seed, names, 64<<10)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() {
				in := w.Next()
				h.Do(k, in, func() linearize.Output {
					ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
					defer cancel()
					out, _ := d.Do(ctx, in)
					return out
				})
			}
		}()
	}

	// Acknowledged writes, to read back at the end.
	type acked struct {
		path string
		seed uint64
		size int
	}
	var mu sync.Mutex
	var acks []acked
	var failedThenRetried, failedForGood int
	var longest time.Duration
	for k := range 2 {
		cl := dial()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stopped(); i++ {
				s := seed ^ uint64(k)<<40 ^ uint64(i)
				size := 1 + int(s%(1500<<10))
				p := fmt.Sprintf("/dur/w%d/%06d", k, i)
				retried := false
				for attempt := 0; attempt < 3; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					began := time.Now()
					_, err := cl.WriteFile(ctx, p, bytes.NewReader(testcluster.RandBytes(s, size)), client.WriteOptions{Parents: true})
					took := time.Since(began)
					cancel()
					mu.Lock()
					longest = max(longest, took)
					if err == nil {
						acks = append(acks, acked{p, s, size})
						if retried {
							failedThenRetried++
						}
						mu.Unlock()
						break
					}
					t.Logf("write %s failed (attempt %d): %v", p, attempt+1, err)
					if attempt == 2 {
						failedForGood++
					}
					mu.Unlock()
					retried = true
				}
			}
		}()
	}

	// The nemesis: one fault at a time, each healed before the next.
	faults := map[string]int{}
	leaderOf := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := admin.Admin().Status(ctx)
		if err != nil {
			t.Logf("nemesis: no cluster status: %v", err)
			return ""
		}
		return st.LeaderID
	}
	pause := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		time.Sleep(pause(time.Second, 3*time.Second))
		switch kind := rng.IntN(5); kind {
		case 0:
			i := rng.IntN(len(c.nodes))
			t.Logf("nemesis: kill -9 %s", c.nodes[i].name)
			c.nodes[i].kill()
			time.Sleep(pause(time.Second, 4*time.Second))
			c.nodes[i] = c.nodes[i].restart(t)
			faults["kill data node"]++
		case 1:
			id := leaderOf()
			if id == "" {
				continue
			}
			t.Logf("nemesis: kill -9 metadata leader %s", id)
			c.metas[id].kill()
			time.Sleep(pause(time.Second, 3*time.Second))
			c.metas[id] = c.metas[id].restart(t)
			faults["kill leader"]++
		case 2:
			i := rng.IntN(len(c.nodes))
			d := pause(3*time.Second, 8*time.Second)
			t.Logf("nemesis: SIGSTOP %s for %v", c.nodes[i].name, d)
			c.nodes[i].freeze()
			time.Sleep(d)
			c.nodes[i].thaw()
			faults["freeze data node"]++
		case 3:
			id := leaderOf()
			if id == "" {
				continue
			}
			d := pause(3*time.Second, 6*time.Second)
			t.Logf("nemesis: SIGSTOP metadata leader %s for %v", id, d)
			c.metas[id].freeze()
			time.Sleep(d)
			c.metas[id].thaw()
			faults["freeze leader"]++
		case 4:
			i := rng.IntN(len(c.ndirs))
			if what := flipBit(rng, c.ndirs[i]); what != "" {
				t.Logf("nemesis: %s of %s", what, c.nodes[i].name)
				faults["bit flip"]++
			}
		}
	}
	close(stop)
	wg.Wait()

	// Every process runs again; the cluster settles.
	await.Until(t, 2*time.Minute, func() error {
		out, err := cli(t, c.meta, "cluster", "status")
		if err == nil && strings.Count(out, " alive") >= len(c.nodes) {
			return nil
		}
		return fmt.Errorf("cluster not settled: %v\n%s", err, out)
	})

	// Every acknowledged write reads back.
	reader := dial()
	lost, corrupt, unreadable := 0, 0, 0
	for _, a := range acks {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		var got []byte
		f, err := reader.Open(ctx, a.path)
		if err == nil {
			got, err = io.ReadAll(f)
		}
		cancel()
		switch {
		case errors.Is(err, cairn.NotFound):
			lost++
			t.Errorf("acknowledged write lost: %s", a.path)
		case errors.Is(err, cairn.Corrupt):
			corrupt++
			t.Errorf("acknowledged write unreadable as corrupt: %s: %v", a.path, err)
		case err != nil:
			unreadable++
			t.Errorf("acknowledged write unreadable: %s: %v", a.path, err)
		case !bytes.Equal(got, testcluster.RandBytes(a.seed, a.size)):
			corrupt++
			t.Errorf("acknowledged write read back different bytes: %s", a.path)
		}
	}

	v := h.Check(3 * time.Minute)
	var fs []string
	for k, n := range faults {
		fs = append(fs, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(fs)
	t.Logf("chaos summary: seed %d, %v, faults [%s]; history %d operations (%d ambiguous); acknowledged writes %d, lost %d, corrupt %d, unreadable %d, failed then retried %d, failed after 3 attempts %d; longest write %v; linearizability: %s",
		seed, dur, strings.Join(fs, ", "), v.Operations, v.Ambiguous, len(acks), lost, corrupt, unreadable, failedThenRetried, failedForGood,
		longest.Round(time.Millisecond), v.Result)
	if v.Result != porcupine.Ok {
		t.Errorf("the namespace history is not linearizable: %s", v)
	}
	if len(acks) == 0 || v.Operations == 0 {
		t.Errorf("the campaign did no work: %d writes, %d operations", len(acks), v.Operations)
	}
}

// flipBit flips one bit at a random place in a random volume file of the
// data node whose folder is dir (past the first 4 KiB, where the records
// are), as bit rot would; it says what it did, "" if there was no volume
// with data yet.
func flipBit(rng *rand.Rand, dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "volumes", "*"))
	var vols []string
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() && fi.Size() > 64<<10 {
			vols = append(vols, f)
		}
	}
	if len(vols) == 0 {
		return ""
	}
	path := vols[rng.IntN(len(vols))]
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return ""
	}
	defer f.Close()
	off := 4096 + rng.Int64N(fi.Size()-4096)
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return ""
	}
	b[0] ^= 1 << rng.IntN(8)
	if _, err := f.WriteAt(b, off); err != nil {
		return ""
	}
	return fmt.Sprintf("bit flipped at offset %d of %s", off, filepath.Base(path))
}
