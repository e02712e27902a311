package inprocess_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/meta/heal"
	"github.com/cairnfs/cairn/meta/inprocess"
)

// start runs a service in dir on a loopback listener; it stops at the end
// of the test.
func start(t *testing.T, dir string) *inprocess.Server {
	t.Helper()
	return startWith(t, inprocess.Config{Dir: dir, DefaultReplication: 1})
}

// startWith runs a service configured by cfg on a loopback listener.
func startWith(t *testing.T, cfg inprocess.Config) *inprocess.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = l
	s, err := inprocess.New(cfg)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// dial returns an SDK client of s; it closes at the end of the test.
func dial(t *testing.T, s *inprocess.Server) *client.Client {
	t.Helper()
	c, err := client.Dial([]string{s.Addr()}, client.Options{RetryFor: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestNamespace: the SDK's namespace operations, answered with their
// error kinds, and every write visible to the next read.
func TestNamespace(t *testing.T) {
	c := dial(t, start(t, t.TempDir()))
	ctx := testCtx(t)
	if _, err := c.Mkdir(ctx, "/a/b", client.MkdirOptions{}); !errors.Is(err, cairn.NotFound) {
		t.Errorf("mkdir under a missing parent: %v, want NotFound", err)
	}
	if _, err := c.Mkdir(ctx, "/a/b", client.MkdirOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mkdir(ctx, "/a/b", client.MkdirOptions{}); !errors.Is(err, cairn.Exists) {
		t.Errorf("mkdir of an existing directory: %v, want Exists", err)
	}
	if _, err := c.WriteFile(ctx, "/a/empty", strings.NewReader(""), client.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "/a/b", "/a/c", client.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "/a/b"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("stat of a renamed directory's old name: %v, want NotFound", err)
	}
	entries, err := c.ReadDir(ctx, "/a")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "c,empty" {
		t.Errorf("/a lists %q, want c,empty", got)
	}
	if _, err := c.Remove(ctx, "/a", client.RemoveOptions{}); !errors.Is(err, cairn.NotEmpty) {
		t.Errorf("removing a full directory: %v, want NotEmpty", err)
	}
	res, err := c.Remove(ctx, "/a", client.RemoveOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.RemoveResult{Files: 1, Dirs: 2}); res != want {
		t.Errorf("recursive remove reports %+v, want %+v", res, want)
	}
}

// TestConcurrentProposals: commands from many callers apply one at a
// time, each at the next index, and all of them succeed.
func TestConcurrentProposals(t *testing.T) {
	s := start(t, t.TempDir())
	c := dial(t, s)
	ctx := testCtx(t)
	before := appliedIndex(t, c)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Mkdir(ctx, fmt.Sprintf("/d%02d", i), client.MkdirOptions{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := appliedIndex(t, c); got != before+n {
		t.Errorf("applied index went from %d to %d after %d commands, want %d", before, got, n, before+n)
	}
	if entries, err := c.ReadDir(ctx, "/"); err != nil || len(entries) != n {
		t.Errorf("the root lists %d entries (%v), want %d", len(entries), err, n)
	}
}

func appliedIndex(t *testing.T, c *client.Client) uint64 {
	t.Helper()
	st, err := c.Admin().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.AppliedIndex
}

// TestRestartKeepsState: a service reopened on the same directory has
// the namespace a closed one left, and goes on applying after its index.
func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	c := dial(t, s)
	ctx := testCtx(t)
	if _, err := c.Mkdir(ctx, "/kept", client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	index := appliedIndex(t, c)
	c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c = dial(t, start(t, dir))
	if fi, err := c.Stat(ctx, "/kept"); err != nil || !fi.IsDir() {
		t.Fatalf("after a restart /kept is %v, %v; want the directory", fi, err)
	}
	if _, err := c.Mkdir(ctx, "/new", client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := appliedIndex(t, c); got != index+1 {
		t.Errorf("after a restart the next command applied at %d, want %d", got, index+1)
	}
}

// TestMembership: the service is its only member and leads; changes of
// membership and leadership are refused as Invalid.
func TestMembership(t *testing.T) {
	s := start(t, t.TempDir())
	adm := dial(t, s).Admin()
	ctx := testCtx(t)
	m, err := adm.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := s.Config().ID
	if len(m.Peers) != 1 || m.Peers[0].ID != id || !m.Peers[0].Leader || !m.Peers[0].Voter || m.Peers[0].APIAddr != s.Addr() ||
		m.LeaderID != id || m.LeaderAddr != s.Addr() || m.Responder != id || !m.ResponderIsLeader {
		t.Errorf("membership %+v, want %s alone, leading at %s", m, id, s.Addr())
	}
	st, err := adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderID != id || len(st.Peers) != 1 || st.Repair == nil {
		t.Errorf("status %+v, want %s leading alone, with the healer's progress", st, id)
	}
	if err := adm.AddPeer(ctx, "m2", "127.0.0.1:1", "127.0.0.1:2"); !errors.Is(err, cairn.Invalid) {
		t.Errorf("AddPeer: %v, want Invalid", err)
	}
	if err := adm.RemovePeer(ctx, id); !errors.Is(err, cairn.Invalid) {
		t.Errorf("RemovePeer: %v, want Invalid", err)
	}
	if err := s.TransferLeadership(ctx); !errors.Is(err, cairn.Invalid) {
		t.Errorf("TransferLeadership: %v, want Invalid", err)
	}
}

// TestAllocationUsesRegisteredNodes: data nodes register and heartbeat
// with the service, and new chunks go to them, as many replicas as asked
// for and no more than there are.
func TestAllocationUsesRegisteredNodes(t *testing.T) {
	tc := testcluster.NewInProcess(t, testcluster.Options{Nodes: 3, Replication: 2, ChunkSize: 64 << 10})
	ctx := testCtx(t)
	registered := map[string]bool{}
	for _, n := range tc.Nodes {
		registered[string(n.Proc.Node.ID())] = true
	}
	st, err := tc.Client().Admin().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if !registered[string(n.ID)] || n.State != cairn.NodeAlive {
			t.Errorf("status lists node %s as %v; want only the cluster's nodes, alive", n.ID, n.State)
		}
	}
	if len(st.Nodes) != len(registered) {
		t.Errorf("status lists %d nodes, want %d", len(st.Nodes), len(registered))
	}

	data := testcluster.RandBytes(7, 200<<10)
	if _, err := tc.Client().WriteFile(ctx, "/f", bytes.NewReader(data), client.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := tc.Client().Open(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Chunks()) != 4 {
		t.Fatalf("the file has %d chunks, want 4", len(f.Chunks()))
	}
	for _, ch := range f.Chunks() {
		if len(ch.Replicas) != 2 || ch.Replicas[0].Node == ch.Replicas[1].Node {
			t.Errorf("chunk %s has replicas %+v, want 2 distinct (the default replication)", ch.ID, ch.Replicas)
		}
		for _, r := range ch.Replicas {
			if !registered[string(r.Node)] || r.Addr == "" {
				t.Errorf("chunk %s is on %+v, not a registered node", ch.ID, r)
			}
		}
	}

	four := tc.NewClient(client.Options{Replication: 4, RetryFor: time.Second})
	if _, err := four.WriteFile(ctx, "/g", bytes.NewReader(data), client.WriteOptions{}); !errors.Is(err, cairn.Unavailable) {
		t.Errorf("writing 4 replicas on 3 nodes: %v, want Unavailable", err)
	}
}

// TestLifecycle: New checks the configuration; Start runs once; Close is
// idempotent and stops serving; a closed service does not start again.
func TestLifecycle(t *testing.T) {
	if _, err := inprocess.New(inprocess.Config{}); !errors.Is(err, cairn.Invalid) {
		t.Errorf("New without Dir and Listener: %v, want Invalid", err)
	}
	s := start(t, t.TempDir())
	if err := s.Start(context.Background()); !errors.Is(err, cairn.Invalid) {
		t.Errorf("a second Start: %v, want Invalid", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v, want nil", err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, cairn.Invalid) {
		t.Errorf("Start after Close: %v, want Invalid", err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Errorf("the closed service still accepts connections at %s", s.Addr())
	}
}

// TestHealRounds: with Config.Heal the healer's rounds run, on the
// service's clock: an upload session is expired once that clock passes
// its expiry.
func TestHealRounds(t *testing.T) {
	var skew atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	s := startWith(t, inprocess.Config{Dir: t.TempDir(), DefaultReplication: 1, Now: now,
		Heal: &heal.Config{GCInterval: 10 * time.Millisecond, RepairInterval: time.Hour, UploadExpiry: time.Hour}})
	c := dial(t, s)
	ctx := testCtx(t)
	up, err := c.CreateMultipart(ctx, "/upload", client.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUpload(ctx, up.ID); err != nil {
		t.Fatalf("a fresh session: %v", err)
	}
	skew.Store(int64(2 * time.Hour))
	await.Until(t, 30*time.Second, func() error {
		if _, err := c.GetUpload(ctx, up.ID); !errors.Is(err, cairn.NotFound) {
			return fmt.Errorf("session %s two hours later: %v, want NotFound", up.ID, err)
		}
		return nil
	})
}
