package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/server"
)

// Every role has the shared lifecycle.
var (
	_ server.Role = (*server.Meta)(nil)
	_ server.Role = (*server.Node)(nil)
	_ server.Role = (*server.Gateway)(nil)
	_ server.Role = (*server.Server)(nil)
)

// goroutines returns the stacks of the running goroutines by ID.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		id, _, _ := strings.Cut(strings.TrimPrefix(string(g), "goroutine "), " ")
		out[id] = string(g)
	}
	return out
}

// newSince returns the goroutines running now that did not run in before.
func newSince(before map[string]string) []string {
	var out []string
	for id, stack := range goroutines() {
		if _, ok := before[id]; !ok {
			out = append(out, stack)
		}
	}
	return out
}

// noNewGoroutines fails the test if goroutines that were not running in
// before still run after wait (goroutines that are ending get that long).
func noNewGoroutines(t *testing.T, before map[string]string, wait time.Duration) {
	t.Helper()
	await.Until(t, wait, func() error {
		if extra := newSince(before); len(extra) > 0 {
			return fmt.Errorf("%d goroutines left running:\n%s", len(extra), strings.Join(extra, "\n\n"))
		}
		return nil
	})
}

// openFiles counts this process's open file descriptors (sockets
// included), or -1 where /proc is missing.
func openFiles() int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(fds)
}

// listenLoopback returns a listener on a free loopback port.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a single-process server on loopback; every port but the
// gRPC one (handed in, because the node and the gateway must know it) is
// an address with port 0 that Start listens on.
func testConfig(t *testing.T, grpc net.Listener) server.Config {
	dir := t.TempDir()
	mc := meta.DefaultConfig()
	mc.ID, mc.Dir, mc.Logger = "m1", filepath.Join(dir, "meta"), discard()
	mc.RaftBind, mc.RaftAdvertise, mc.DefaultReplication = "127.0.0.1:0", "127.0.0.1:0", 1
	mc.HeartbeatTimeout, mc.ElectionTimeout, mc.LeaderLease = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	grpcAddr := "127.0.0.1:1" // only for New-only tests, which never dial
	if grpc != nil {
		grpcAddr = grpc.Addr().String()
	}
	return server.Config{
		Meta: server.MetaConfig{Meta: mc, GRPC: grpc, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"},
		Node: server.NodeConfig{Addr: "127.0.0.1:0", Node: node.Config{
			Dir: filepath.Join(dir, "node"), Advertise: "127.0.0.1:0", Meta: []string{grpcAddr},
			HeartbeatInterval: 100 * time.Millisecond, Logger: discard()}},
		Gateway: &server.GatewayConfig{Addr: "127.0.0.1:0", Meta: []string{grpcAddr},
			AccessKey: "LIFECYCLETEST", SecretKey: "lifecycle-secret", Logger: discard()},
	}
}

// TestNewStartsNothing: New of every role starts no goroutine, opens no
// file or socket and creates no directory; only Start does.
func TestNewStartsNothing(t *testing.T) {
	cfg := testConfig(t, nil)
	before, fds := goroutines(), openFiles()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if extra := newSince(before); len(extra) > 0 {
		t.Errorf("New started %d goroutines:\n%s", len(extra), strings.Join(extra, "\n\n"))
	}
	if now := openFiles(); now != fds {
		t.Errorf("New changed the open file descriptors from %d to %d (a listener, or the state opened)", fds, now)
	}
	for _, d := range []string{cfg.Meta.Meta.Dir, cfg.Node.Node.Dir} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("New touched %s: %v", d, err)
		}
	}
	if s.Meta.Server != nil || s.Node.Node != nil || s.Gateway.S3 != nil {
		t.Error("New built the running parts of a role")
	}
	select {
	case <-s.Ready():
		t.Error("Ready is closed before Start")
	default:
	}
	// Shutdown of a role never started only marks it stopped.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	if err := s.Start(context.Background()); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("Start after Shutdown: %v, want an Invalid error", err)
	}
	noNewGoroutines(t, before, 0)
}

// TestConfigReportsDefaults: Config returns what New filled in, so the
// logger is never nil and every interval has its production value.
func TestConfigReportsDefaults(t *testing.T) {
	cfg := testConfig(t, nil)
	cfg.Meta.Meta.Logger, cfg.Meta.Meta.RepairInterval, cfg.Meta.Meta.GCInterval = nil, 0, 0
	cfg.Node.Node.Logger, cfg.Node.Node.HeartbeatInterval = nil, 0
	cfg.Gateway.Logger, cfg.Gateway.Region = nil, ""
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := s.Config()
	def := meta.DefaultConfig()
	if got.Meta.Meta.Logger == nil || got.Node.Node.Logger == nil || got.Gateway.Logger == nil {
		t.Error("a role has no logger after New")
	}
	if got.Meta.Meta.RepairInterval != def.RepairInterval || got.Meta.Meta.GCInterval != def.GCInterval {
		t.Errorf("meta intervals %v, %v, want the defaults %v, %v", got.Meta.Meta.RepairInterval, got.Meta.Meta.GCInterval, def.RepairInterval, def.GCInterval)
	}
	if got.Meta.Meta.Registry == nil {
		t.Error("meta has no metrics registry")
	}
	if got.Node.Node.HeartbeatInterval != time.Second || got.Node.Node.ReadyAfterBeat != 10*time.Second || got.Node.Node.MaxChunkSize != 64<<20 {
		t.Errorf("node heartbeat %v, ready-after %v, max chunk %d, want 1s, 10s, 64 MiB",
			got.Node.Node.HeartbeatInterval, got.Node.Node.ReadyAfterBeat, got.Node.Node.MaxChunkSize)
	}
	if got.Gateway.Region != "us-east-1" {
		t.Errorf("gateway region %q, want us-east-1", got.Gateway.Region)
	}
	// The caller's copy is not the effective one: changing it after New
	// changes nothing.
	cfg.Node.Node.HeartbeatInterval = time.Hour
	if s.Config().Node.Node.HeartbeatInterval != time.Second {
		t.Error("Config follows the caller's copy")
	}
}

// TestNewRejectsBadConfig: New validates, with Invalid errors.
func TestNewRejectsBadConfig(t *testing.T) {
	for name, edit := range map[string]func(*server.Config){
		"no gRPC address":      func(c *server.Config) { c.Meta.GRPCAddr = "" },
		"no data port":         func(c *server.Config) { c.Node.Addr = "" },
		"no node advertise":    func(c *server.Config) { c.Node.Node.Advertise = "" },
		"meta without dir":     func(c *server.Config) { c.Meta.Meta.Dir = "" },
		"gateway half a key":   func(c *server.Config) { c.Gateway.SecretKey = "" },
		"gateway without meta": func(c *server.Config) { c.Gateway.Meta = nil },
	} {
		cfg := testConfig(t, nil)
		edit(&cfg)
		if _, err := server.New(cfg); cairn.KindOf(err) != cairn.Invalid {
			t.Errorf("%s: New returned %v, want an Invalid error", name, err)
		}
	}
}

// TestLifecycle runs the single-process server through its whole life:
// Start serves on the listener handed in and on the ports it opened,
// Ready closes, Start again fails, Shutdown (twice, concurrently too)
// stops it and leaves no goroutine behind, and Start after Shutdown fails.
func TestLifecycle(t *testing.T) {
	before := goroutines()
	grpc := listenLoopback(t)
	s, err := server.New(testConfig(t, grpc))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Ready():
	case <-ctx.Done():
		t.Fatal("Ready did not close within 30s")
	}
	for name, r := range map[string]server.Role{"meta": s.Meta, "node": s.Node, "gateway": s.Gateway} {
		select {
		case <-r.Ready():
		default:
			t.Errorf("the server is ready but its %s is not", name)
		}
	}
	cfg := s.Config()
	if cfg.Meta.GRPC != grpc {
		t.Error("the metadata peer does not serve on the gRPC listener handed in")
	}
	if cfg.Meta.Meta.APIAddr != grpc.Addr().String() {
		t.Errorf("API address %q, want the listener's %s", cfg.Meta.Meta.APIAddr, grpc.Addr())
	}
	for name, l := range map[string]net.Listener{"http": cfg.Meta.HTTP, "raft": cfg.Meta.Meta.RaftListener, "data": cfg.Node.Listener, "s3": cfg.Gateway.Listener} {
		if l == nil {
			t.Fatalf("no %s listener after Start", name)
		}
		if strings.HasSuffix(l.Addr().String(), ":0") {
			t.Errorf("%s listener on %s", name, l.Addr())
		}
	}
	if strings.HasSuffix(cfg.Node.Node.Advertise, ":0") || cfg.Node.Node.Advertise != cfg.Node.Listener.Addr().String() {
		t.Errorf("node advertises %q, want its listener's %s", cfg.Node.Node.Advertise, cfg.Node.Listener.Addr())
	}
	httpAddr := cfg.Meta.HTTP.Addr().String()
	if code, body := get(httpAddr, "/readyz"); code != 200 {
		t.Errorf("/readyz of a ready server: %d %q", code, body)
	}
	if code, _ := get(cfg.Gateway.Listener.Addr().String(), "/-/readyz"); code != 200 {
		t.Errorf("gateway /-/readyz of a ready server: %d", code)
	}
	if err := s.Start(ctx); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("second Start: %v, want an Invalid error", err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Shutdown(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Shutdown %d: %v", i, err)
		}
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown once more: %v", err)
	}
	if code, _ := get(httpAddr, "/healthz"); code != 0 {
		t.Errorf("the HTTP port still answers after Shutdown: %d", code)
	}
	if err := s.Start(ctx); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("Start after Shutdown: %v, want an Invalid error", err)
	}
	noNewGoroutines(t, before, 5*time.Second)
}

// TestStartFailsOnBusyPort: a port in use fails Start with a ListenError
// naming it; the role is then stopped and nothing it opened keeps running.
func TestStartFailsOnBusyPort(t *testing.T) {
	before := goroutines()
	busy := listenLoopback(t)
	defer busy.Close()
	grpc := listenLoopback(t)
	cfg := testConfig(t, grpc)
	cfg.Node.Addr = busy.Addr().String()
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Start(context.Background())
	var le *server.ListenError
	if !errors.As(err, &le) || le.Port != "data" {
		t.Fatalf("Start with the data port taken: %v, want a ListenError for the data port", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown after a failed Start: %v", err)
	}
	if err := s.Start(context.Background()); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("Start after a failed Start: %v, want an Invalid error", err)
	}
	noNewGoroutines(t, before, 5*time.Second)
}

// TestRolesAlone: each role started on its own (the metadata peer, then a
// data node and a gateway against it) becomes ready and shuts down
// without leaving goroutines; Shutdown is idempotent per role.
func TestRolesAlone(t *testing.T) {
	before := goroutines()
	grpc := listenLoopback(t)
	cfg := testConfig(t, grpc)
	m, err := server.NewMeta(cfg.Meta)
	if err != nil {
		t.Fatal(err)
	}
	n, err := server.NewNode(cfg.Node)
	if err != nil {
		t.Fatal(err)
	}
	g, err := server.NewGateway(*cfg.Gateway)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range []server.Role{m, n, g} {
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-r.Ready():
		case <-ctx.Done():
			t.Fatalf("%T not ready within 30s", r)
		}
	}
	for _, r := range []server.Role{g, n, m} {
		for i := 0; i < 2; i++ {
			if err := r.Shutdown(ctx); err != nil {
				t.Errorf("%T Shutdown %d: %v", r, i+1, err)
			}
		}
		if err := r.Start(ctx); cairn.KindOf(err) != cairn.Invalid {
			t.Errorf("%T Start after Shutdown: %v, want an Invalid error", r, err)
		}
	}
	noNewGoroutines(t, before, 5*time.Second)
}
