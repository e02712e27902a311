// Package e2e runs the real cairn binary as separate processes on
// 127.0.0.1: three metadata peers, three data nodes, the CLI, and kill -9.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "cairn")
	out, err := exec.Command("go", "build", "-o", binary, "../cmd/cairn").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building cairn: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// proc is a running cairn process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		p.kill()
		f.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("--- %s log (tail) ---\n%s", name, tail(string(b), 3000))
		}
	})
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cli runs a client command and returns its output.
func cli(t *testing.T, meta string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "CAIRN_META="+meta)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type cluster struct {
	dir   string
	meta  string // comma-separated gRPC addresses
	nodes []*proc
	ndirs []string
	metas map[string]*proc // by peer ID
}

func startCluster(t *testing.T) *cluster { return startClusterN(t, 3, 2) }

// startClusterN starts 3 metadata peers and n data nodes (replication r)
// as separate processes, with timeouts short enough for tests.
func startClusterN(t *testing.T, n, r int) *cluster {
	dir := t.TempDir()
	c := &cluster{dir: dir}
	type peer struct{ id, raft, grpc, http string }
	var peers []peer
	for i := 1; i <= 3; i++ {
		peers = append(peers, peer{fmt.Sprintf("m%d", i), freePort(t), freePort(t), freePort(t)})
	}
	var initial, grpcs []string
	for _, p := range peers {
		initial = append(initial, p.id+"="+p.raft)
		grpcs = append(grpcs, p.grpc)
	}
	c.meta = strings.Join(grpcs, ",")
	for _, p := range peers {
		if c.metas == nil {
			c.metas = map[string]*proc{}
		}
		c.metas[p.id] = start(t, dir, p.id, "meta", "--id", p.id, "--dir", filepath.Join(dir, p.id), "--raft-addr", p.raft,
			"--grpc-addr", p.grpc, "--http-addr", p.http, "--peers", strings.Join(initial, ","),
			"--api-peers", c.meta, "--replication", fmt.Sprint(r), "--election-timeout", "500ms",
			"--node-suspect-after", "2s", "--node-dead-after", "6s", "--repair-interval", "500ms",
			"--gc-interval", "500ms", "--gc-grace", "0s")
	}
	for i := 1; i <= n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("node%d", i))
		c.ndirs = append(c.ndirs, d)
		c.nodes = append(c.nodes, start(t, dir, fmt.Sprintf("node%d", i), "node", "--dir", d, "--addr", freePort(t),
			"--meta", c.meta, "--zone", fmt.Sprintf("z%d", i), "--heartbeat-interval", "300ms",
			"--reconcile-interval", "1s", "--reconcile-grace", "2s"))
	}
	// Wait until the CLI sees three alive nodes.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := cli(t, c.meta, "cluster", "status")
		if err == nil && strings.Count(out, " alive ") == n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster did not come up: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dirSize sums the sizes of files below dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestKillDataNodeDuringPut: the CLI uploads a large file while a data node
// is killed with SIGKILL; the upload completes on the remaining nodes and
// `cairn get` returns the same bytes.
func TestKillDataNodeDuringPut(t *testing.T) {
	c := startCluster(t)
	src := filepath.Join(c.dir, "big.bin")
	data := make([]byte, 160<<20)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Small CLI round trips first.
	if out, err := cli(t, c.meta, "mkdir", "-p", "/e2e/dir"); err != nil {
		t.Fatalf("mkdir: %v\n%s", err, out)
	}
	put := exec.Command(binary, "put", "--chunk-size", "1M", "--concurrency", "2", "--replication", "2", src, "/e2e/big.bin")
	put.Env = append(os.Environ(), "CAIRN_META="+c.meta)
	var putOut bytes.Buffer
	put.Stdout, put.Stderr = &putOut, &putOut
	if err := put.Start(); err != nil {
		t.Fatal(err)
	}
	putDone := make(chan error, 1)
	go func() { putDone <- put.Wait() }()

	// Kill node 1 once it holds part of the file, while the put still runs.
	victim := 0
	deadline := time.Now().Add(60 * time.Second)
	for dirSize(c.ndirs[victim]) < 16<<20 {
		if time.Now().After(deadline) {
			t.Fatal("node 1 never received data")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-putDone:
		t.Fatalf("put finished before the kill (%v); make the file larger\n%s", err, putOut.String())
	default:
	}
	c.nodes[victim].kill()
	t.Logf("killed node1 (SIGKILL) with %d MiB on its disk", dirSize(c.ndirs[victim])>>20)

	select {
	case err := <-putDone:
		if err != nil {
			t.Fatalf("put failed after the kill: %v\n%s", err, putOut.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("put did not finish")
	}
	dst := filepath.Join(c.dir, "back.bin")
	if out, err := cli(t, c.meta, "get", "/e2e/big.bin", dst); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("downloaded file differs from the upload")
	}
	out, err := cli(t, c.meta, "ls", "-l", "/e2e")
	if err != nil || !strings.Contains(out, "big.bin") || !strings.Contains(out, "dir/") {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	out, err = cli(t, c.meta, "stat", "/nope")
	if err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("stat of a missing file: %v\n%s", err, out)
	}
	if code := exitCode(err); code != 3 {
		t.Fatalf("stat of a missing file exited %d, want 3", code)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// TestPutResume: a `cairn put` killed with SIGKILL halfway is continued by
// `cairn put --resume`, which re-sends only the missing chunks.
func TestPutResume(t *testing.T) {
	c := startCluster(t)
	src := filepath.Join(c.dir, "resume.bin")
	data := make([]byte, 96<<20)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	put := exec.Command(binary, "put", "--chunk-size", "1M", "--concurrency", "1", src, "/r/resume.bin")
	put.Env = append(os.Environ(), "CAIRN_META="+c.meta)
	if err := put.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for dirSize(c.ndirs[0])+dirSize(c.ndirs[1])+dirSize(c.ndirs[2]) < 2*30<<20 {
		if time.Now().After(deadline) {
			t.Fatal("upload made no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	put.Process.Signal(syscall.SIGKILL)
	put.Wait()
	if out, err := cli(t, c.meta, "stat", "/r/resume.bin"); err == nil {
		t.Fatalf("a killed upload left a visible file:\n%s", out)
	}
	out, err := cli(t, c.meta, "put", "--chunk-size", "1M", "--resume", src, "/r/resume.bin")
	if err != nil {
		t.Fatalf("put --resume: %v\n%s", err, out)
	}
	var landed, total int
	i := strings.Index(out, "resuming upload:")
	if i < 0 {
		t.Fatalf("put --resume did not resume:\n%s", out)
	}
	if _, err := fmt.Sscanf(out[i:], "resuming upload: %d of %d", &landed, &total); err != nil || landed == 0 || total != 96 {
		t.Fatalf("resume did not reuse landed chunks (landed %d of %d): %v\n%s", landed, total, err, out)
	}
	t.Logf("resumed with %d of %d chunks already stored", landed, total)
	dst := filepath.Join(c.dir, "resume.out")
	if out, err := cli(t, c.meta, "get", "/r/resume.bin", dst); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, data) {
		t.Fatal("resumed upload differs from the source")
	}
}
