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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/leakcheck"
	"github.com/cairnfs/cairn/pki"
)

var binary string

// binaryEnv names an already built cairn binary; the test binary sets it
// when it runs itself as a helper (TestChildrenDieWithTheTest).
const binaryEnv = "CAIRN_E2E_BINARY"

func TestMain(m *testing.M) {
	if binary = os.Getenv(binaryEnv); binary != "" {
		leakcheck.Main(m, nil)
		return
	}
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
	leakcheck.Main(m, func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	})
}

// command is exec.CommandContext of the cairn binary, tied to the test:
// see childAttr. When ctx ends, the child's whole process group is killed.
func command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.SysProcAttr = childAttr()
	return cmd
}

// listener opens a listener on a free loopback port for a child process.
// The test holds the port from here on: start hands the open socket to the
// child (CAIRN_LISTEN_FDS, docs/cli.md), so no other process can take the
// port between choosing it and serving on it.
func listener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// proc is a running cairn process whose output goes to a log file.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   string
	dir   string
	args  []string
	addrs []string // the listeners it was given, for restart
}

// start starts cairn with args; it inherits the listeners lis (which the
// test closes on its side once the child has them, so that connections to a
// killed child are refused as before).
func start(t *testing.T, dir, name string, lis []net.Listener, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644) // a restart appends
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = f, f
	var fds []string
	for i, l := range lis {
		lf, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, lf)
		fds = append(fds, fmt.Sprintf("%s=%d", l.Addr(), 3+i))
	}
	if len(fds) > 0 {
		cmd.Env = append(os.Environ(), "CAIRN_LISTEN_FDS="+strings.Join(fds, ","))
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, l := range lis {
		l.Close()
	}
	p := &proc{name: name, cmd: cmd, log: logPath, dir: dir, args: args}
	for _, l := range lis {
		p.addrs = append(p.addrs, l.Addr().String())
	}
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

// restart starts p again after it died (kill -9), on the same addresses
// with the same arguments, and returns the new process.
func (p *proc) restart(t *testing.T) *proc {
	t.Helper()
	p.kill()
	var lis []net.Listener
	for _, a := range p.addrs {
		var l net.Listener
		await.Until(t, 10*time.Second, func() (err error) {
			l, err = net.Listen("tcp", a)
			return err
		})
		lis = append(lis, l)
	}
	return start(t, p.dir, p.name, lis, p.args...)
}

// kill kills the process and everything it started, and waits for it.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.cmd.Wait()
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// adminCerts maps a cluster's metadata addresses (as given to cli) to
// the admin certificate directory its CLI commands use.
var adminCerts sync.Map

// cli runs a client command and returns its output. Against a cluster
// from startClusterN it acts as the cluster's admin.
func cli(t *testing.T, meta string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := command(ctx, args...)
	cmd.Env = append(os.Environ(), "CAIRN_META="+meta)
	if d, ok := adminCerts.Load(meta); ok {
		cmd.Env = append(cmd.Env, "CAIRN_CERTS_DIR="+d.(string))
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type cluster struct {
	dir   string
	certs string // certificate directories: ca, meta, node, admin
	// httpAddrs maps each peer's gRPC address to its HTTP address.
	httpAddrs map[string]string
	meta      string // comma-separated gRPC addresses
	nodes     []*proc
	ndirs     []string
	metas     map[string]*proc // by peer ID
}

func startCluster(t *testing.T) *cluster { return startClusterN(t, 3, 2) }

// startClusterN starts 3 metadata peers and n data nodes (replication r)
// as separate processes, with timeouts short enough for tests.
func startClusterN(t *testing.T, n, r int) *cluster {
	dir := t.TempDir()
	c := &cluster{dir: dir}
	type peer struct {
		id               string
		raft, grpc, http net.Listener
	}
	var peers []peer
	for i := 1; i <= 3; i++ {
		peers = append(peers, peer{fmt.Sprintf("m%d", i), listener(t), listener(t), listener(t)})
	}
	var initial, grpcs []string
	for _, p := range peers {
		initial = append(initial, p.id+"="+p.raft.Addr().String())
		grpcs = append(grpcs, p.grpc.Addr().String())
	}
	c.meta = strings.Join(grpcs, ",")
	c.certs = makeCerts(t, dir)
	c.httpAddrs = map[string]string{}
	for _, p := range peers {
		c.httpAddrs[p.grpc.Addr().String()] = p.http.Addr().String()
	}
	adminCerts.Store(c.meta, filepath.Join(c.certs, "admin"))
	t.Cleanup(func() { adminCerts.Delete(c.meta) })
	for _, p := range peers {
		if c.metas == nil {
			c.metas = map[string]*proc{}
		}
		c.metas[p.id] = start(t, dir, p.id, []net.Listener{p.raft, p.grpc, p.http},
			"meta", "--id", p.id, "--dir", filepath.Join(dir, p.id), "--raft-addr", p.raft.Addr().String(),
			"--grpc-addr", p.grpc.Addr().String(), "--http-addr", p.http.Addr().String(), "--peers", strings.Join(initial, ","),
			"--api-peers", c.meta, "--replication", fmt.Sprint(r), "--election-timeout", "500ms",
			"--node-suspect-after", "2s", "--node-dead-after", "6s", "--repair-interval", "500ms",
			"--gc-interval", "500ms", "--gc-grace", "0s", "--certs-dir", filepath.Join(c.certs, "meta"))
	}
	for i := 1; i <= n; i++ {
		d := filepath.Join(dir, fmt.Sprintf("node%d", i))
		c.ndirs = append(c.ndirs, d)
		l := listener(t)
		c.nodes = append(c.nodes, start(t, dir, fmt.Sprintf("node%d", i), []net.Listener{l}, "node", "--dir", d, "--addr", l.Addr().String(),
			"--meta", c.meta, "--zone", fmt.Sprintf("z%d", i), "--heartbeat-interval", "300ms",
			"--reconcile-interval", "1s", "--reconcile-grace", "2s", "--certs-dir", filepath.Join(c.certs, "node")))
	}
	// Wait until the CLI sees every node alive.
	await.Until(t, 2*time.Minute, func() error {
		out, err := cli(t, c.meta, "cluster", "status")
		if err == nil && strings.Count(out, " alive ") == n {
			return nil
		}
		return fmt.Errorf("cluster not up (want %d alive nodes): %v\n%s", n, err, out)
	})
	return c
}

// makeCerts makes a cluster's CA and certificates under dir/certs with
// `cairn cert`, as an operator would: one for the metadata peers, one for
// the data nodes (both for 127.0.0.1), one for a gateway and one for the
// admin. It returns dir/certs.
func makeCerts(t *testing.T, dir string) string {
	t.Helper()
	base := filepath.Join(dir, "certs")
	ca := filepath.Join(base, "ca")
	for _, args := range [][]string{
		{"create-ca", "--ca-dir", ca},
		{"create-node", "--ca-dir", ca, "--out", filepath.Join(base, "meta"), "--name", "meta", "--roles", "meta", "--host", "127.0.0.1,localhost"},
		{"create-node", "--ca-dir", ca, "--out", filepath.Join(base, "node"), "--name", "node-*", "--roles", "node", "--host", "127.0.0.1,localhost"},
		{"create-node", "--ca-dir", ca, "--out", filepath.Join(base, "gateway"), "--name", "gateway", "--roles", "gateway", "--host", "127.0.0.1,localhost"},
		{"create-client", "--ca-dir", ca, "--out", filepath.Join(base, "admin"), "--name", "root", "--admin"},
	} {
		if out, err := command(t.Context(), append([]string{"cert"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("cairn cert %v: %v\n%s", args, err, out)
		}
	}
	return base
}

// clientEnv is the environment of a CLI command against the cluster, as
// its admin.
func (c *cluster) clientEnv() []string {
	return append(os.Environ(), "CAIRN_META="+c.meta, "CAIRN_CERTS_DIR="+filepath.Join(c.certs, "admin"))
}

// adminTLS loads the cluster's admin certificate for an SDK client.
func (c *cluster) adminTLS(t *testing.T) *pki.Source {
	t.Helper()
	return loadCertDir(t, filepath.Join(c.certs, "admin"))
}

// loadCertDir loads a certificate directory.
func loadCertDir(t *testing.T, dir string) *pki.Source {
	t.Helper()
	src, err := pki.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return src
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
	put := command(context.Background(), "put", "--chunk-size", "1M", "--concurrency", "2", "--replication", "2", src, "/e2e/big.bin")
	put.Env = c.clientEnv()
	var putOut bytes.Buffer
	put.Stdout, put.Stderr = &putOut, &putOut
	if err := put.Start(); err != nil {
		t.Fatal(err)
	}
	putDone := make(chan error, 1)
	go func() { putDone <- put.Wait() }()

	// Kill node 1 once it holds part of the file, while the put still runs.
	victim := 0
	await.True(t, 2*time.Minute, "node 1 received 16 MiB", func() bool { return dirSize(c.ndirs[victim]) >= 16<<20 })
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
	put := command(context.Background(), "put", "--chunk-size", "1M", "--concurrency", "1", src, "/r/resume.bin")
	put.Env = c.clientEnv()
	if err := put.Start(); err != nil {
		t.Fatal(err)
	}
	await.True(t, 2*time.Minute, "the upload stored 30 MiB twice", func() bool {
		return dirSize(c.ndirs[0])+dirSize(c.ndirs[1])+dirSize(c.ndirs[2]) >= 2*30<<20
	})
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
