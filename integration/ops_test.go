package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/server"
)

// Day-2 operations under a continuous workload: membership changes,
// planned stops of data nodes and of the metadata leader, and clients
// that follow the cluster's membership. Every test requires zero failed
// client operations.

// TestMembershipThreeFiveThree grows the metadata cluster from 3 to 5
// peers and shrinks it back to 3, removing the leader and m1, while
// clients write and read. The data nodes and the workload's client were
// given only m1's address: they must follow the membership themselves.
func TestMembershipThreeFiveThree(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 3, Replication: 2, ChunkSize: 128 << 10, NodeSeeds: 1})
	cl, err := client.Dial([]string{c.Metas[0].GRPCAddr}, client.Options{ChunkSize: 128 << 10, TLS: c.AdminCert()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	w := startWorkload(t, cl, "/members", 4, 300<<10)
	w.progress(t, 10, time.Minute)

	for range 2 {
		i := c.AddMeta()
		if err := c.AddPeer(i); err != nil {
			t.Fatal(err)
		}
		w.progress(t, 5, time.Minute)
	}
	if got := c.Voters(); !slices.Equal(got, []string{"m1", "m2", "m3", "m4", "m5"}) {
		t.Fatalf("voters after adding two: %v", got)
	}
	// As an operator would, let the clients and nodes see the new members
	// (they ask every 2 s) before the peers they were given go away.
	await.Until(t, time.Minute, func() error {
		all := c.MetaAddrs()
		if known := cl.MetaAddrs(); !containsAll(known, all) {
			return fmt.Errorf("the workload's client knows %v, not all of %v", known, all)
		}
		for i, n := range c.Nodes {
			if known := n.Proc.Node.MetaAddrs(); !containsAll(known, all) {
				return fmt.Errorf("data node %d knows %v, not all of %v", i, known, all)
			}
		}
		return nil
	})

	leader := c.Leader()
	if leader > 2 {
		t.Fatalf("a new peer (m%d) leads; the test wants an original leader to remove", leader+1)
	}
	other := 0 // m1, the only address the nodes and the client were given
	if leader == 0 {
		other = 1
	}
	for _, i := range []int{leader, other} {
		if err := c.RemovePeer(i); err != nil {
			t.Fatal(err)
		}
		c.StopMeta(i)
		w.progress(t, 5, time.Minute)
	}
	var want []string
	for i, m := range c.Metas {
		if i != leader && i != other {
			want = append(want, m.ID)
		}
	}
	if got := c.Voters(); !slices.Equal(got, want) {
		t.Fatalf("voters after removing %s and %s: %v, want %v", c.Metas[leader].ID, c.Metas[other].ID, got, want)
	}
	// Past the new leader's grace period (the suspect timeout): Advance
	// returns once every data node has heartbeat to the new leader since.
	c.Advance(c.NodeSuspectAfter() + time.Second)
	w.progress(t, 10, time.Minute)
	w.finish(t)
	w.verify(t, c.NewClient(client.Options{}))

	// Every data node must follow the membership to the new leader. Under
	// load a heartbeat can be late for a moment: give them a minute.
	var st *client.ClusterStatus
	await.Until(t, time.Minute, func() error {
		if st, err = c.Client().Admin().Status(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, n := range st.Nodes {
			if n.State != cairn.NodeAlive {
				return fmt.Errorf("data node %s is %s after the membership change: it lost the metadata leader", n.ID, n.State)
			}
		}
		return nil
	})
	var peers []string
	for _, p := range st.Peers {
		peers = append(peers, p.ID)
		if p.APIAddr == "" {
			t.Errorf("peer %s has no recorded API address", p.ID)
		}
	}
	if slices.Sort(peers); !slices.Equal(peers, want) {
		t.Errorf("cluster status lists peers %v, want %v", peers, want)
	}
}

// containsAll reports whether have holds every address of want.
func containsAll(have, want []string) bool {
	for _, a := range want {
		if !slices.Contains(have, a) {
			return false
		}
	}
	return true
}

// TestRemovePeerSafety: removals that would break the quorum or empty the
// cluster are refused with errors that say why; a peer that is down can
// be removed.
func TestRemovePeerSafety(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1})
	leader := c.Leader()
	down, up := (leader+1)%3, (leader+2)%3
	c.StopMeta(down)
	err := c.RemovePeer(up)
	if !errors.Is(err, cairn.Conflict) || !strings.Contains(err.Error(), "quorum") {
		t.Fatalf("removing a live peer while another is down: %v, want a Conflict about the quorum", err)
	}
	if err := c.RemovePeer(down); err != nil {
		t.Fatalf("removing the peer that is down: %v", err)
	}
	if err := c.RemovePeer(up); err != nil {
		t.Fatalf("2 -> 1 with both up: %v", err)
	}
	c.StopMeta(up)
	last := c.Leader()
	if err := c.RemovePeer(last); !errors.Is(err, cairn.Invalid) || !strings.Contains(err.Error(), "last") {
		t.Fatalf("removing the last peer: %v, want Invalid", err)
	}
	if err := c.Client().Admin().RemovePeer(context.Background(), "nobody"); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("removing an unknown peer: %v, want NotFound", err)
	}
	mustWrite(t, c.Client(), "/after/one-peer", []byte("still writable"))
}

// TestGracefulNodeStopUnderLoad: a data node stopped with SIGTERM's path
// (Leave, then finish in-flight requests) and restarted within the dead
// timeout fails no client operation and triggers no repair.
func TestGracefulNodeStopUnderLoad(t *testing.T) {
	// A dead timeout the test never reaches, however slow the machine:
	// it checks states by the clock, not by how fast the stop went.
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 4, Replication: 3, ChunkSize: 128 << 10, NodeDeadAfter: time.Hour})
	cl := c.NewClient(client.Options{})
	w := startWorkload(t, cl, "/leave", 6, 400<<10)
	w.progress(t, 20, time.Minute)

	const victim = 0
	id := c.Nodes[victim].Proc.Node.ID()
	if err := c.ShutdownNode(victim); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if st := c.NodeState(id); st != cairn.NodeLeaving {
		t.Fatalf("right after its graceful stop the leader sees the node as %v, want leaving", st)
	}
	w.progress(t, 10, time.Minute)
	// Past the suspect timeout, before the dead timeout: still leaving
	// (a crashed node would be suspect by now).
	c.Advance(c.NodeSuspectAfter() + time.Second)
	if st := c.NodeState(id); st != cairn.NodeLeaving {
		t.Fatalf("past the suspect timeout the leader sees the node as %v, want leaving", st)
	}
	c.StartNode(victim)
	c.WaitNodes(4)
	w.progress(t, 20, time.Minute)
	w.finish(t)
	w.verify(t, c.NewClient(client.Options{}))
	st, err := c.Client().Admin().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Repair; r.Repaired != 0 || r.Failed != 0 {
		t.Errorf("a planned restart triggered repairs: %d repaired, %d failed", r.Repaired, r.Failed)
	}
}

// TestMetaLeaderGracefulStop: the leader stopped with SIGTERM's path hands
// leadership over before its Raft stops (another peer leads before
// Shutdown returns), and no client operation fails.
func TestMetaLeaderGracefulStop(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 3, Replication: 2, ChunkSize: 128 << 10})
	cl := c.NewClient(client.Options{})
	w := startWorkload(t, cl, "/handover", 4, 300<<10)
	w.progress(t, 10, time.Minute)

	old := c.Leader()
	var others []*server.Meta
	for i, m := range c.Metas {
		if i != old {
			others = append(others, m.Proc)
		}
	}
	if err := c.ShutdownMeta(old); err != nil {
		t.Fatalf("graceful stop of the leader: %v", err)
	}
	// Right as Shutdown returns another peer already leads: without the
	// handover an election would first wait out a heartbeat timeout.
	leads := false
	for _, p := range others {
		leads = leads || p.Server.Raft().State() == raft.Leader
	}
	if !leads {
		t.Fatal("no other peer leads as the old leader's Shutdown returns: leadership was not handed over")
	}
	w.progress(t, 10, time.Minute)
	c.StartMeta(old)
	w.progress(t, 10, time.Minute)
	w.finish(t)
	w.verify(t, c.NewClient(client.Options{}))
}

// TestClientLearnsPeers: a client given a single metadata address learns
// a peer added later, and keeps working after the peer it was given is
// removed and stopped.
func TestClientLearnsPeers(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 2, Replication: 2})
	cl, err := client.Dial([]string{c.Metas[0].GRPCAddr}, client.Options{RefreshEvery: 100 * time.Millisecond, ChunkSize: 64 << 10, TLS: c.AdminCert()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	mustWrite(t, cl, "/learn/before", []byte("before"))

	j := c.AddMeta()
	if err := c.AddPeer(j); err != nil {
		t.Fatal(err)
	}
	await.Until(t, 15*time.Second, func() error {
		if known := cl.MetaAddrs(); !slices.Contains(known, c.Metas[j].GRPCAddr) {
			if _, err := cl.Stat(context.Background(), "/learn"); err != nil {
				t.Fatal(err)
			}
			return fmt.Errorf("client knows %v, not the new peer %s", known, c.Metas[j].GRPCAddr)
		}
		return nil
	})
	if err := c.RemovePeer(0); err != nil {
		t.Fatal(err)
	}
	c.StopMeta(0)
	for i := range 20 {
		p := "/learn/after-" + string(rune('a'+i))
		mustWrite(t, cl, p, randBytes(uint64(i), 100<<10))
		mustMatch(t, cl, p, randBytes(uint64(i), 100<<10))
	}
	mustMatch(t, cl, "/learn/before", []byte("before"))
}
