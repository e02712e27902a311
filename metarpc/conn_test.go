package metarpc

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/faultnet"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// fakeMeta answers Namespace.Stat with stat(), counting calls.
type fakeMeta struct {
	cairnpb.UnimplementedNamespaceServer
	calls atomic.Int32
	stat  func() (*cairnpb.StatResponse, error)
}

func (f *fakeMeta) Stat(ctx context.Context, req *cairnpb.StatRequest) (*cairnpb.StatResponse, error) {
	f.calls.Add(1)
	resp, err := f.stat()
	return resp, rpcerr.ToStatus(err)
}

// serve starts a gRPC server for f on a loopback port and returns its address.
func serve(t *testing.T, f *fakeMeta) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	cairnpb.RegisterNamespaceServer(s, f)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(lis) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return lis.Addr().String()
}

func dial(t *testing.T, opts Options, addrs ...string) *Conn {
	t.Helper()
	c, err := Dial(addrs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func stat(ctx context.Context, cc grpc.ClientConnInterface) error {
	_, err := cairnpb.NewNamespaceClient(cc).Stat(ctx, &cairnpb.StatRequest{Path: "/"})
	return err
}

func TestConnFollowsLeaderHint(t *testing.T) {
	leader := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) {
		return &cairnpb.StatResponse{Attr: &cairnpb.Attr{Inode: 1, Dir: true}}, nil
	}}
	leaderAddr := serve(t, leader)
	follower := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) {
		return nil, rpcerr.Retryable(cairn.E("stat", cairn.NotLeader, &rpcerr.LeaderHint{ID: "m2", Addr: leaderAddr}))
	}}
	followerAddr := serve(t, follower)

	c := dial(t, Options{RetryFor: 5 * time.Second}, followerAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got *cairnpb.StatResponse
	err := c.Leader(ctx, func(ctx context.Context, cc grpc.ClientConnInterface) error {
		var err error
		got, err = cairnpb.NewNamespaceClient(cc).Stat(ctx, &cairnpb.StatRequest{Path: "/"})
		return err
	})
	if err != nil {
		t.Fatalf("Leader: %v", err)
	}
	if got.GetAttr().GetInode() != 1 {
		t.Errorf("response = %v", got)
	}
	if follower.calls.Load() != 1 || leader.calls.Load() != 1 {
		t.Errorf("calls: follower %d, leader %d; want 1, 1", follower.calls.Load(), leader.calls.Load())
	}
	// The hinted leader was learnt: it is remembered and added to the peers.
	if err := c.Leader(ctx, stat); err != nil {
		t.Fatal(err)
	}
	if follower.calls.Load() != 1 || leader.calls.Load() != 2 {
		t.Errorf("second call: follower %d, leader %d; want 1, 2", follower.calls.Load(), leader.calls.Load())
	}
	addrs := c.Addrs()
	if len(addrs) != 2 || addrs[1] != leaderAddr {
		t.Errorf("Addrs() = %v, want the hinted leader added", addrs)
	}
}

func TestConnNonRetryableReturnsAtOnce(t *testing.T) {
	srv := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) {
		return nil, cairn.E("stat", cairn.PathArg("/nope"), cairn.NotFound, errors.New("/nope does not exist"))
	}}
	addr := serve(t, srv)
	c := dial(t, Options{RetryFor: 5 * time.Second}, addr)
	err := c.Leader(context.Background(), stat)
	if !errors.Is(err, cairn.NotFound) {
		t.Fatalf("err = %v (kind %v), want NotFound", err, cairn.KindOf(err))
	}
	if n := srv.calls.Load(); n != 1 {
		t.Errorf("server called %d times, want 1 (no retry)", n)
	}
}

func TestConnGivesUpAfterRetryFor(t *testing.T) {
	srv := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) {
		return nil, rpcerr.Retryable(cairn.E("stat", cairn.Unavailable, errors.New("electing")))
	}}
	addr := serve(t, srv)
	c := dial(t, Options{RetryFor: 150 * time.Millisecond}, addr)
	// The context outlives RetryFor by far: the call must end by giving up
	// on its own, not because the context ended.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := c.Leader(ctx, stat)
	if !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("err = %v (kind %v), want Unavailable", err, cairn.KindOf(err))
	}
	if ctx.Err() != nil {
		t.Errorf("the call ended with its context, not after RetryFor (150ms)")
	}
	if n := srv.calls.Load(); n < 2 {
		t.Errorf("server called %d times, want retries", n)
	}
}

func TestConnContextCanceledWhileRetrying(t *testing.T) {
	srv := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) {
		return nil, rpcerr.Retryable(cairn.E("stat", cairn.NotLeader, &rpcerr.LeaderHint{}))
	}}
	addr := serve(t, srv)
	c := dial(t, Options{RetryFor: time.Minute}, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := c.Leader(ctx, stat)
	if !errors.Is(err, cairn.Canceled) {
		t.Fatalf("err = %v (kind %v), want Canceled", err, cairn.KindOf(err))
	}
}

func TestConnUnreachablePeerIsRetried(t *testing.T) {
	// A port nobody listens on: the transport fails with a plain
	// Unavailable status, which must be retried, then give up as Unavailable.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	good := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) { return &cairnpb.StatResponse{}, nil }}
	goodAddr := serve(t, good)
	c := dial(t, Options{RetryFor: 5 * time.Second}, dead, goodAddr)
	if err := c.Any(context.Background(), stat); err != nil {
		t.Fatalf("Any with one dead peer: %v", err)
	}
	if good.calls.Load() != 1 {
		t.Errorf("good peer called %d times", good.calls.Load())
	}
}

func TestDialValidates(t *testing.T) {
	for _, addrs := range [][]string{nil, {}, {""}, {" , "}} {
		if _, err := Dial(addrs, Options{}); !errors.Is(err, cairn.Invalid) {
			t.Errorf("Dial(%q) = %v, want Invalid", addrs, err)
		}
	}
	c, err := Dial([]string{"a:1, b:2", "c:3"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.Addrs(); len(got) != 3 || got[0] != "a:1" || got[1] != "b:2" || got[2] != "c:3" {
		t.Errorf("Addrs() = %q", got)
	}
}

func TestClosedConn(t *testing.T) {
	c, err := Dial([]string{"127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	called := false
	err = c.Leader(context.Background(), func(context.Context, grpc.ClientConnInterface) error { called = true; return nil })
	if !errors.Is(err, cairn.Canceled) || called {
		t.Errorf("call on closed Conn: err %v, fn called %v", err, called)
	}
}

// TestTLSMismatchIsExplainedAtOnce: a client with certificates against a
// peer run with --insecure, and a client whose own certificate expired,
// are told why at once instead of retrying for RetryFor.
func TestTLSMismatchIsExplainedAtOnce(t *testing.T) {
	addr := serve(t, &fakeMeta{stat: func() (*cairnpb.StatResponse, error) { return &cairnpb.StatResponse{}, nil }})
	ca, err := pki.CreateCA("metarpc test", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		notAfter time.Time
		want     string
	}{
		{"valid certificate, insecure peer", time.Time{}, "does not speak TLS"},
		{"expired certificate", time.Now().Add(-time.Hour), "expired at"},
	} {
		dir := filepath.Join(t.TempDir(), "c")
		if err := ca.WriteCertDir(dir, pki.CertSpec{Name: "c", Roles: []pki.Role{pki.User}, NotAfter: tc.notAfter}); err != nil {
			t.Fatal(err)
		}
		src, err := pki.Load(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, Options{RetryFor: 20 * time.Second, TLS: src}, addr)
		// Retrying would end, after RetryFor, in an Unavailable "no
		// metadata leader reachable"; the explanation is a Permission error.
		err = c.Leader(context.Background(), stat)
		if !errors.Is(err, cairn.Permission) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a Permission error saying %q", tc.name, err, tc.want)
		}
	}
}

// TestConnMovesOnFromASilentPeer: a peer that holds every byte (frozen,
// as with SIGSTOP) fails its probe while a call waits on it; the call is
// retried at the next peer and succeeds, and the silent peer is skipped
// for a while.
func TestConnMovesOnFromASilentPeer(t *testing.T) {
	ok := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) { return &cairnpb.StatResponse{}, nil }}
	frozenMeta := &fakeMeta{stat: func() (*cairnpb.StatResponse, error) { return &cairnpb.StatResponse{}, nil }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frozen := faultnet.NewProxy(ln, serve(t, frozenMeta))
	defer frozen.Close()
	c := dial(t, Options{RefreshEvery: -1, RetryFor: 30 * time.Second}, frozen.Addr(), serve(t, ok))
	// Connect through the proxy first, then freeze it mid-call.
	if err := c.Leader(t.Context(), stat); err != nil {
		t.Fatal(err)
	}
	frozen.Set(faultnet.Both, faultnet.Fault{Mode: faultnet.Hold})
	began := time.Now()
	if err := c.Leader(t.Context(), stat); err != nil {
		t.Fatalf("call with the leader frozen: %v", err)
	}
	took := time.Since(began)
	if ok.calls.Load() != 1 {
		t.Errorf("the live peer served %d calls, want 1", ok.calls.Load())
	}
	if took > 15*time.Second {
		t.Errorf("the call took %v to leave a silent peer", took)
	}
	if !c.isSuspect(frozen.Addr()) {
		t.Error("the silent peer is not marked suspect")
	}
	t.Logf("moved on from the silent peer after %v", took.Round(time.Millisecond))
	frozen.Heal()
}
