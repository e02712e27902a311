package metarpc

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/proto/cairnpb"
)

// peersMeta is a fake peer that answers Namespace.Stat, and Cluster.Peers
// with the member list it is given.
type peersMeta struct {
	cairnpb.UnimplementedNamespaceServer
	cairnpb.UnimplementedClusterServer
	mu      sync.Mutex
	id      string
	members []string // API addresses; the first is the leader
	self    string
}

func (p *peersMeta) Stat(ctx context.Context, req *cairnpb.StatRequest) (*cairnpb.StatResponse, error) {
	return &cairnpb.StatResponse{Attr: &cairnpb.Attr{Inode: 1, Dir: true}}, nil
}

func (p *peersMeta) Peers(ctx context.Context, req *cairnpb.PeersRequest) (*cairnpb.PeersResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	resp := &cairnpb.PeersResponse{ResponderId: p.id, ResponderIsLeader: len(p.members) > 0 && p.members[0] == p.self}
	for i, a := range p.members {
		ps := &cairnpb.PeerStatus{Id: a, ApiAddr: a, Leader: i == 0, Voter: true}
		if strings.HasPrefix(a, "noaddr-") { // a member that has not recorded its address yet
			ps.ApiAddr = ""
		}
		resp.Peers = append(resp.Peers, ps)
	}
	if len(p.members) > 0 {
		resp.LeaderAddr = p.members[0]
	}
	return resp, nil
}

func (p *peersMeta) set(members ...string) {
	p.mu.Lock()
	p.members = members
	p.mu.Unlock()
}

// servePeer starts a fake peer on a loopback port; stop ends it.
func servePeer(t *testing.T, id string) (p *peersMeta, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p = &peersMeta{id: id, self: lis.Addr().String()}
	s := grpc.NewServer()
	cairnpb.RegisterNamespaceServer(s, p)
	cairnpb.RegisterClusterServer(s, p)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(lis) }()
	var once sync.Once
	stop = func() { once.Do(func() { s.Stop(); <-done }) }
	t.Cleanup(stop)
	return p, stop
}

// waitAddrs calls Stat until the Conn's peer list satisfies ok, for at
// most 30 seconds.
func waitAddrs(t *testing.T, c *Conn, ok func([]string) bool) {
	t.Helper()
	await.Until(t, 30*time.Second, func() error {
		if addrs := c.Addrs(); !ok(addrs) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c.Any(ctx, stat)
			cancel()
			return fmt.Errorf("peer list is %v", addrs)
		}
		return nil
	})
}

// TestConnLearnsPeersAndSurvivesSeedRemoval: a Conn given one peer learns
// the others from the Peers RPC, keeps the seed last, and keeps working
// when the seed is removed and stops.
func TestConnLearnsPeersAndSurvivesSeedRemoval(t *testing.T) {
	seed, stopSeed := servePeer(t, "m1")
	other, _ := servePeer(t, "m2")
	seed.set(seed.self, other.self)
	other.set(seed.self, other.self)

	c := dial(t, Options{RetryFor: 5 * time.Second, RefreshEvery: 50 * time.Millisecond}, seed.self)
	waitAddrs(t, c, func(a []string) bool { return slices.Contains(a, other.self) })

	// m1 is removed: the leader (now m2) lists only itself; then m1 stops.
	seed.set(other.self)
	other.set(other.self)
	waitAddrs(t, c, func(a []string) bool { return len(a) == 2 && a[0] == other.self && a[1] == seed.self })
	stopSeed()
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Any(ctx, stat)
		cancel()
		if err != nil {
			t.Fatalf("call %d after the seed stopped: %v", i, err)
		}
	}
}

// TestConnDiscoveryOff: with RefreshEvery < 0 the Conn never asks.
func TestConnDiscoveryOff(t *testing.T) {
	seed, _ := servePeer(t, "m1")
	other, _ := servePeer(t, "m2")
	seed.set(seed.self, other.self)
	c := dial(t, Options{RetryFor: time.Second, RefreshEvery: -1}, seed.self)
	for range 5 {
		if err := c.Any(context.Background(), stat); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := c.Addrs(); !slices.Equal(got, []string{seed.self}) {
		t.Errorf("with discovery off the peer list changed to %v", got)
	}
}

// TestConnAsksAgainUntilComplete: an answer in which a member has no API
// address yet is used, and the Conn asks again soon (not after
// RefreshEvery) until it knows every member's address.
func TestConnAsksAgainUntilComplete(t *testing.T) {
	leader, _ := servePeer(t, "m1")
	late, _ := servePeer(t, "m2")
	leader.set(leader.self, "noaddr-m2")
	c := dial(t, Options{RetryFor: 5 * time.Second, RefreshEvery: time.Hour}, leader.self)
	waitAddrs(t, c, func(a []string) bool { return len(a) == 1 && a[0] == leader.self && c.disc.lastRefreshed() })
	leader.set(leader.self, late.self)
	waitAddrs(t, c, func(a []string) bool { return slices.Contains(a, late.self) })
}
