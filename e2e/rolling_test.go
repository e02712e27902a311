package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/pki"
)

// rollingKustomization is the configuration TestRollingRestartAndMembership
// runs: the base, three data nodes with replication 3. While one of them
// restarts, a new chunk cannot get three live replicas; the metadata
// service marks that shortage retryable (the node is leaving, not dead)
// and writes wait for the node instead of failing.
// CAIRN_ROLLING_KUSTOMIZATION=overlays/production (a directory under
// deploy/kubernetes) runs another kustomization.
const rollingKustomization = "base"

// TestRollingRestartAndMembership starts a cluster configured as the
// Kubernetes manifests configure their pods (kubepods_test.go says what
// differs: only addresses and data folders), then, under a continuous
// read/write workload through the Go SDK:
//
//  1. restarts every process one at a time as a StatefulSet rolling update
//     does (data nodes, then metadata peers, highest ordinal first): SIGTERM,
//     wait for the exit (at most terminationGracePeriodSeconds), start
//     again with the same arguments, environment and data, wait for
//     /readyz and minReadySeconds;
//  2. grows the metadata peers from 3 to 5 (cairn-meta-3 and -4 configured
//     as the StatefulSet scaled to 5 configures them, added with `cairn
//     meta add-peer`) and shrinks back to 3 (`cairn meta remove-peer`, then
//     SIGTERM).
//
// The pods run with TLS (kubepods_test.go); the workload's SDK client has
// an admin client certificate, and the `kubectl exec` commands use the
// metadata pod's own certificate, as they would in the cluster.
//
// It requires zero failed client operations, an exit status 0 on every
// SIGTERM, every acknowledged file readable with its content at the end,
// and a clean `cairn fsck`.
func TestRollingRestartAndMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process rolling restart and membership change (over a minute)")
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs the whole of 127.0.0.0/8 on loopback (Linux)")
	}
	began := time.Now()
	dir := rollingKustomization
	if d := os.Getenv("CAIRN_ROLLING_KUSTOMIZATION"); d != "" {
		dir = d
	}
	const extraMetas = 2 // 3 -> 5 -> 3
	k := loadKube(t, filepath.Join("../deploy/kubernetes", dir), extraMetas)
	nMeta, nNode := int(k.meta.Replicas), int(k.node.Replicas)
	t.Logf("%s: %d metadata peers (+%d), %d data nodes", dir, nMeta, extraMetas, nNode)

	var metas, nodes []*kubePod
	for i := range nMeta + extraMetas {
		metas = append(metas, k.pod(t, k.meta, i))
	}
	for i := range nNode {
		nodes = append(nodes, k.pod(t, k.node, i))
	}
	for _, p := range metas {
		k.checkFree(t, p, k.meta)
	}
	for _, p := range nodes {
		k.checkFree(t, p, k.node)
	}
	t.Logf("cairn-meta-0: cairn %s\n  env %q", strings.Join(metas[0].args, " "), metas[0].env)
	t.Logf("cairn-node-0: cairn %s\n  env %q", strings.Join(nodes[0].args, " "), nodes[0].env)

	// Both StatefulSets start their pods in parallel
	// (podManagementPolicy: Parallel).
	for _, p := range metas[:nMeta] {
		p.start(t)
	}
	for _, p := range nodes {
		p.start(t)
	}
	for _, p := range append(slices.Clone(metas[:nMeta]), nodes...) {
		p.waitProbe(t, p.ready, 60*time.Second)
	}
	t.Logf("%d peers and %d nodes ready after %v", nMeta, nNode, time.Since(began).Round(time.Millisecond))

	// The workload's client is given the metadata addresses the manifests
	// give the SDK's users (the gateway's, and the nodes', METADATA_SERVER_ADDR).
	gw, err := k.c.ByRole("gateway")
	if err != nil {
		t.Fatal(err)
	}
	gwPod, err := k.c.Resolve(gw, 0)
	if err != nil {
		t.Fatal(err)
	}
	metaAddrs := strings.Split(k.hosts.Replace(gwPod.Vals["METADATA_SERVER_ADDR"]), ",")
	admin := k.adminTLS(t)
	w := startRollingWorkload(t, metaAddrs, admin, filepath.Join(k.root, "client.log"), 4)
	w.progress(t, 10, time.Minute)

	// 1. Rolling restart: data nodes, then metadata peers, highest ordinal
	// first.
	var order []*kubePod
	for i := nNode - 1; i >= 0; i-- {
		order = append(order, nodes[i])
	}
	for i := nMeta - 1; i >= 0; i-- {
		order = append(order, metas[i])
	}
	for _, p := range order {
		what := ""
		if p.role == "meta" {
			if st, err := w.cl.Admin().Status(context.Background()); err == nil && st.LeaderID == p.name {
				what = " (the leader)"
			}
		}
		w.event(t, "restart %s%s: SIGTERM", p.name, what)
		code, took := p.stop(t)
		if code != 0 {
			t.Errorf("%s exited with status %d on SIGTERM after %v, want 0", p.name, code, took.Round(time.Millisecond))
		}
		w.event(t, "%s exited %d after %v; starting it", p.name, code, took.Round(time.Millisecond))
		p.start(t)
		ready := p.waitProbe(t, p.ready, 90*time.Second)
		w.event(t, "%s ready after %v; waiting minReadySeconds %v", p.name, ready.Round(time.Millisecond), p.minReady)
		time.Sleep(p.minReady)
		w.progress(t, 5, time.Minute)
	}
	w.event(t, "rolling restart done")

	// 2. Membership 3 -> 5 -> 3, run from cairn-meta-0 as in
	// docs/kubernetes.md.
	exec0 := metas[0]
	for _, p := range metas[nMeta:] {
		p.start(t)
	}
	for _, p := range metas[nMeta:] {
		p.waitProbe(t, p.health, 60*time.Second)
		if code, body := httpProbe(p.ready); code == http.StatusOK {
			t.Errorf("%s is ready before it was added: %s", p.name, body)
		}
	}
	for _, p := range metas[nMeta:] {
		w.event(t, "meta add-peer %s", p.name)
		out, err := exec0.cli(t, "meta", "add-peer", p.name, jsonStr(t, p.derived, "raft_advertise"), "--api-addr", jsonStr(t, p.derived, "api_addr"))
		if err != nil {
			t.Fatalf("cairn meta add-peer %s: %v\n%s", p.name, err, out)
		}
		p.waitProbe(t, p.ready, 60*time.Second)
		w.event(t, "%s added and ready", p.name)
		w.progress(t, 5, time.Minute)
	}
	checkPeers(t, exec0, metas)
	for i := len(metas) - 1; i >= nMeta; i-- {
		p := metas[i]
		w.event(t, "meta remove-peer %s", p.name)
		out, err := exec0.cli(t, "meta", "remove-peer", p.name)
		if err != nil {
			t.Fatalf("cairn meta remove-peer %s: %v\n%s", p.name, err, out)
		}
		code, took := p.stop(t)
		if code != 0 {
			t.Errorf("%s exited with status %d on SIGTERM after its removal (after %v), want 0", p.name, code, took.Round(time.Millisecond))
		}
		w.event(t, "%s removed, exited %d after %v", p.name, code, took.Round(time.Millisecond))
		w.progress(t, 5, time.Minute)
	}
	checkPeers(t, exec0, metas[:nMeta])
	w.progress(t, 10, time.Minute)

	// The end: no failed operation, every acknowledged file intact, fsck
	// clean, no repair triggered by the planned restarts.
	w.finish(t)
	w.verifyAll(t, metaAddrs, admin)
	out, err := exec0.cli(t, "fsck")
	if err != nil || !strings.HasPrefix(out, "ok") {
		t.Errorf("cairn fsck: %v\n%.3000s", err, out)
	}
	st, err := w.cl.Admin().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.State != cairn.NodeAlive {
			t.Errorf("data node %s (%s) is %s at the end", n.ID, n.Addr, n.State)
		}
	}
	if r := st.Repair; r != nil && (r.Repaired != 0 || r.Failed != 0) {
		t.Errorf("planned restarts triggered repairs: %d repaired, %d failed", r.Repaired, r.Failed)
	}
	if b, err := os.ReadFile(w.logPath); err == nil {
		t.Logf("the SDK sent %d chunks again to other replicas", bytes.Count(b, []byte("retrying chunk on new replicas")))
	}
	t.Logf("done in %v", time.Since(began).Round(time.Second))
}

// checkPeers requires `cairn cluster status` to list exactly the given
// peers, all voters, at their addresses.
func checkPeers(t *testing.T, exec0 *kubePod, want []*kubePod) {
	t.Helper()
	out, err := exec0.cli(t, "cluster", "status")
	if err != nil {
		t.Fatalf("cairn cluster status: %v\n%s", err, out)
	}
	rows := map[string][]string{}
	inPeers := false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "PEER":
			inPeers = true
		case len(f) == 0:
			inPeers = false
		case inPeers:
			rows[f[0]] = f[1:]
		}
	}
	var ids []string
	for _, p := range want {
		ids = append(ids, p.name)
		r, ok := rows[p.name]
		switch {
		case !ok:
			t.Errorf("cluster status does not list %s", p.name)
		case len(r) < 3 || r[0] != jsonStr(t, p.derived, "raft_advertise") || r[1] != jsonStr(t, p.derived, "api_addr"):
			t.Errorf("cluster status lists %s as %q, want raft %s, API %s", p.name, r, jsonStr(t, p.derived, "raft_advertise"), jsonStr(t, p.derived, "api_addr"))
		case len(r) != 3 || (r[2] != "leader" && r[2] != "follower"):
			t.Errorf("%s is %q, want a voter", p.name, strings.Join(r[2:], " "))
		}
	}
	if len(rows) != len(want) {
		t.Errorf("cluster status lists %d peers, want %v", len(rows), ids)
	}
	if t.Failed() {
		t.Fatalf("cairn cluster status:\n%s", out)
	}
	t.Logf("cluster status: %d voters %v", len(want), ids)
}

// rollingWorkload writes files of 4 KiB to 2 MiB with unique names and
// reads back random earlier ones, from several goroutines, until finish.
type rollingWorkload struct {
	cl      *client.Client
	logPath string // the client's log
	began   time.Time
	stop    chan struct{}
	wg      sync.WaitGroup

	writes, reads, failed atomic.Int64

	mu       sync.Mutex
	files    []rollingFile // acknowledged writes
	failures []string
	timeline []string
	phase    string
}

type rollingFile struct {
	path string
	seed uint64
	size int
}

func startRollingWorkload(t *testing.T, metaAddrs []string, tlsSrc *pki.Source, logPath string, workers int) *rollingWorkload {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(metaAddrs, client.Options{TLS: tlsSrc, Logger: slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	w := &rollingWorkload{cl: cl, logPath: logPath, began: time.Now(), stop: make(chan struct{}), phase: "start"}
	for k := range workers {
		w.wg.Add(1)
		go w.worker(k)
	}
	t.Cleanup(func() {
		w.halt()
		cl.Close()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- client log (tail) ---\n%s", tail(string(b), 6000))
			w.logTimeline(t)
		}
	})
	return w
}

// rollingContent is the deterministic content of a file.
func rollingContent(seed uint64, size int) []byte {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	b := make([]byte, size)
	rand.NewChaCha8(key).Read(b)
	return b
}

func (w *rollingWorkload) worker(k int) {
	defer w.wg.Done()
	rng := rand.New(rand.NewPCG(uint64(k), 42))
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		// 4 KiB .. 2 MiB, evenly spread over the powers of two.
		size := 4 << 10 << rng.IntN(9)
		size += rng.IntN(size)
		seed := uint64(k)<<32 | uint64(i)
		f := rollingFile{path: fmt.Sprintf("/rolling/w%d/%06d", k, i), seed: seed, size: size}
		if err := w.write(f); err != nil {
			w.fail("write", f.path, err)
		} else {
			w.writes.Add(1)
			w.mu.Lock()
			w.files = append(w.files, f)
			w.mu.Unlock()
		}
		w.mu.Lock()
		var old rollingFile
		if len(w.files) > 0 {
			old = w.files[rng.IntN(len(w.files))]
		}
		w.mu.Unlock()
		if old.path != "" {
			if err := w.read(w.cl, old); err != nil {
				w.fail("read", old.path, err)
			} else {
				w.reads.Add(1)
			}
		}
		// Pacing: the workload leaves the cluster some room between
		// operations; nothing waits for a timeout here.
		time.Sleep(10 * time.Millisecond)
	}
}

// opTimeout bounds one client operation; the SDK's own retries run
// within it.
const opTimeout = 2 * time.Minute

func (w *rollingWorkload) write(f rollingFile) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, err := w.cl.WriteFile(ctx, f.path, bytes.NewReader(rollingContent(f.seed, f.size)), client.WriteOptions{Parents: true})
	return err
}

func (w *rollingWorkload) read(cl *client.Client, f rollingFile) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	r, err := cl.Open(ctx, f.path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		return err
	}
	if !bytes.Equal(buf.Bytes(), rollingContent(f.seed, f.size)) {
		return fmt.Errorf("content differs: %d bytes, want %d", buf.Len(), f.size)
	}
	return nil
}

func (w *rollingWorkload) fail(op, path string, err error) {
	w.failed.Add(1)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failures = append(w.failures, fmt.Sprintf("%s %s %s (during %q): %v", w.stamp(), op, path, w.phase, err))
}

func (w *rollingWorkload) stamp() string {
	return fmt.Sprintf("%s +%6.2fs", time.Now().Format("15:04:05.000"), time.Since(w.began).Seconds())
}

// event logs a step of the test and makes it the phase failures are
// attributed to.
func (w *rollingWorkload) event(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	w.mu.Lock()
	w.phase = msg
	line := fmt.Sprintf("%s %s [%d writes, %d reads, %d failed]", w.stamp(), msg, w.writes.Load(), w.reads.Load(), w.failed.Load())
	w.timeline = append(w.timeline, line)
	w.mu.Unlock()
	t.Log(line)
}

func (w *rollingWorkload) logTimeline(t *testing.T) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("timeline:\n%s", strings.Join(w.timeline, "\n"))
}

// progress waits until the workload has done n more writes and n more
// reads: it keeps running across every step.
func (w *rollingWorkload) progress(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	wantW, wantR := w.writes.Load()+n, w.reads.Load()+n
	await.Until(t, timeout, func() error {
		if w.writes.Load() < wantW || w.reads.Load() < wantR {
			return fmt.Errorf("workload stalled: %d writes, %d reads (want %d, %d); %d failed:\n%s",
				w.writes.Load(), w.reads.Load(), wantW, wantR, w.failed.Load(), strings.Join(w.failureList(20), "\n"))
		}
		return nil
	})
}

func (w *rollingWorkload) failureList(max int) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failures) > max {
		return append(slices.Clone(w.failures[:max]), fmt.Sprintf("... and %d more", len(w.failures)-max))
	}
	return slices.Clone(w.failures)
}

func (w *rollingWorkload) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// finish stops the workload and requires zero failed operations.
func (w *rollingWorkload) finish(t *testing.T) {
	t.Helper()
	w.halt()
	w.event(t, "workload stopped")
	if n := w.failed.Load(); n > 0 {
		t.Errorf("%d of %d client operations failed:\n%s", n, n+w.writes.Load()+w.reads.Load(), strings.Join(w.failureList(50), "\n"))
	}
}

// verifyAll reads every acknowledged file with a new client and compares
// its content.
func (w *rollingWorkload) verifyAll(t *testing.T, metaAddrs []string, tlsSrc *pki.Source) {
	t.Helper()
	cl, err := client.Dial(metaAddrs, client.Options{TLS: tlsSrc})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	w.mu.Lock()
	files := slices.Clone(w.files)
	w.mu.Unlock()
	var bad atomic.Int64
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	next := atomic.Int64{}
	var bytesRead atomic.Int64
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				if err := w.read(cl, files[i]); err != nil {
					bad.Add(1)
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s: %v", files[i].path, err))
					mu.Unlock()
					continue
				}
				bytesRead.Add(int64(files[i].size))
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		slices.Sort(errs)
		t.Errorf("%d of %d acknowledged files are lost or differ:\n%s", bad.Load(), len(files), strings.Join(errs[:min(len(errs), 50)], "\n"))
		return
	}
	t.Logf("all %d acknowledged files (%d MiB) read back intact in %v", len(files), bytesRead.Load()>>20, time.Since(start).Round(time.Millisecond))
}
