package client

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

func reps(states ...string) []*pb.Replica {
	var out []*pb.Replica
	for i, s := range states {
		id := string(rune('a' + i))
		out = append(out, &pb.Replica{Node: id, Addr: id + ":7070", State: s})
	}
	return out
}

func nodes(rs []*pb.Replica) string {
	s := ""
	for _, r := range rs {
		s += r.Node
	}
	return s
}

// TestOrderSpreadsReadsByLoad: equally healthy replicas are chosen by
// requests in flight, ties at random, so reads spread over all of them.
func TestOrderSpreadsReadsByLoad(t *testing.T) {
	l := newNodeLoad(time.Second)
	rs := reps("alive", "alive", "alive")
	first := map[string]int{}
	for range 300 {
		first[l.order(rs)[0].Node]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if first[n] < 50 {
			t.Errorf("idle replicas: %s was first %d of 300 times (%v); reads are not spread", n, first[n], first)
		}
	}
	endA, endB := l.start("a:7070"), l.start("b:7070")
	l.start("b:7070")
	if got := nodes(l.order(rs)); got != "cab" {
		t.Errorf("with a busy (1) and b busier (2): order %s, want cab", got)
	}
	endA()
	endB()
	if got := nodes(l.order(rs)); got != "acb" && got != "cab" {
		t.Errorf("after a finished and b has one left: order %s", got)
	}
}

// TestOrderHealthFirst: the metadata's state beats load, and a node that
// just failed goes last whatever its state, until avoidFor passes.
func TestOrderHealthFirst(t *testing.T) {
	l := newNodeLoad(time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	rs := reps("dead", "leaving", "suspect", "alive")
	for range 20 {
		l.start("d:7070") // the alive node is busy
	}
	if got := nodes(l.order(rs)); got != "dcba" {
		t.Errorf("order by state: %s, want dcba (alive, suspect, leaving, dead)", got)
	}
	l.failed("d", "d:7070", cairn.E(cairn.NotFound, errors.New("no such chunk")))
	if got := nodes(l.order(rs)); got != "dcba" {
		t.Errorf("a NotFound made the node avoided: %s", got)
	}
	l.failed("d", "d:7070", cairn.E(cairn.Unavailable, errors.New("connection refused")))
	if got := nodes(l.order(rs)); got != "cbad" {
		t.Errorf("after d refused a connection: %s, want cbad", got)
	}
	if got := l.avoided(rs); !slices.Equal(got, []string{"d"}) {
		t.Errorf("avoided = %v, want [d]", got)
	}
	if got := l.avoided(reps("alive")); got != nil {
		t.Errorf("avoided for an allocation without d = %v, want nil", got)
	}
	now = now.Add(2 * time.Second)
	if got := nodes(l.order(rs)); got != "dcba" {
		t.Errorf("after avoidFor: %s, want dcba", got)
	}
	if got := l.avoided(rs); got != nil {
		t.Errorf("avoided after avoidFor = %v", got)
	}
}

// TestAvoidanceGrowsWhileANodeKeepsFailing: each failure in a row doubles
// how long a node is avoided (up to maxAvoidFactor), concurrent failures
// count once, and a success forgets the strikes.
func TestAvoidanceGrowsWhileANodeKeepsFailing(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newNodeLoad(time.Second)
	l.now = func() time.Time { return now }
	down := cairn.E(cairn.Unavailable, errors.New("stalled"))
	avoidedFor := func() time.Duration {
		t.Helper()
		start := now
		for l.avoided(reps("")) != nil {
			now = now.Add(100 * time.Millisecond)
		}
		d := now.Sub(start)
		return d
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second} {
		l.failed("a", "a:7070", down)
		l.failed("a", "a:7070", down) // concurrent: the same strike
		if got := avoidedFor(); got < want || got > want+100*time.Millisecond {
			t.Fatalf("failure %d: avoided for %v, want %v", i+1, got, want)
		}
	}
	l.failed("a", "a:7070", down)
	l.succeeded("a:7070")
	if l.avoided(reps("")) != nil {
		t.Fatal("still avoided after a success")
	}
	l.failed("a", "a:7070", down)
	if got := avoidedFor(); got > time.Second+100*time.Millisecond {
		t.Errorf("after a success the next failure avoids for %v, want 1s again", got)
	}
	l.failed("a", "a:7070", cairn.E(cairn.NotFound, errors.New("no such chunk")))
	if l.avoided(reps("")) != nil {
		t.Error("a missing chunk made the node avoided")
	}
}
