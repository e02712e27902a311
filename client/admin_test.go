package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
)

// TestAdmin drives the admin handle: status in the SDK's types, draining
// a node and undoing it, fsck, and the credential calls with their error
// kinds. The in-process metadata service answers them as a Raft cluster
// would; TestAdminMembership checks the Raft side of status.
func TestAdmin(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 2, Replication: 1})
	adm := c.Client().Admin()
	// Secrets are handed only to gateways, which verify signatures with
	// them; the admin that manages keys cannot read them back.
	gw := c.NewClient(client.Options{TLS: c.Cert("gw", pki.Gateway)}).Admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st, err := adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Peers) != 1 || st.LeaderID != st.Peers[0].ID || !st.Peers[0].Leader || !st.Peers[0].Voter {
		t.Errorf("status names leader %q and peers %+v, want the one voting peer leading", st.LeaderID, st.Peers)
	}
	if st.Repair == nil {
		t.Error("the leader reported no repair status")
	}
	victim := c.Nodes[1].Proc.Node.ID()
	if got := nodeState(t, st, victim); got != cairn.NodeAlive {
		t.Errorf("node %s is %v, want alive", victim, got)
	}
	for _, n := range st.Nodes {
		if n.LastHeartbeat.IsZero() || n.Addr == "" {
			t.Errorf("node %s has no address or heartbeat time: %+v", n.ID, n)
		}
	}

	if err := adm.Drain(ctx, victim, client.DrainOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := nodeState(t, mustStatus(t, adm), victim); got != cairn.NodeDraining {
		t.Errorf("after Drain node %s is %v, want draining", victim, got)
	}
	if err := adm.Drain(ctx, victim, client.DrainOptions{Undo: true}); err != nil {
		t.Fatal(err)
	}
	if got := nodeState(t, mustStatus(t, adm), victim); got != cairn.NodeAlive {
		t.Errorf("after Drain with Undo node %s is %v, want alive", victim, got)
	}
	if err := adm.Drain(ctx, "no-such-node", client.DrainOptions{}); !errors.Is(err, cairn.NotFound) {
		t.Errorf("draining an unknown node: %v, want NotFound", err)
	}

	if entries, err := adm.Fsck(ctx); err != nil || len(entries) != 0 {
		t.Errorf("fsck of an empty cluster: %v, %v; want nothing", entries, err)
	}

	testCredentials(ctx, t, adm, gw)
}

// TestAdminMembership: status and membership describe the Raft
// configuration of a real cluster: its peer, leading and voting.
func TestAdminMembership(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{})
	adm := c.Client().Admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := adm.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderID != c.Metas[0].ID || len(st.Peers) != 1 || !st.Peers[0].Leader || !st.Peers[0].Voter || st.Peers[0].APIAddr != c.Metas[0].GRPCAddr {
		t.Errorf("status names leader %q and peers %+v, want the one voting peer %s leading", st.LeaderID, st.Peers, c.Metas[0].ID)
	}
	if st.Repair == nil {
		t.Error("the leader reported no repair status")
	}
	m, err := adm.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Responder != c.Metas[0].ID || !m.ResponderIsLeader || m.LeaderID != c.Metas[0].ID || len(m.Peers) != 1 {
		t.Errorf("membership %+v, want %s answering as the only peer and leader", m, c.Metas[0].ID)
	}
}

// testCredentials manages keys as adm and reads secrets as gw.
func testCredentials(ctx context.Context, t *testing.T, adm, gw *client.Admin) {
	cred := client.Credential{AccessKey: "SPARKJOBS", Secret: "first-secret-key", Description: "spark",
		User: "alice", Policy: `{"Version":"2012-10-17","Statement":[]}`}
	if err := adm.PutCredential(ctx, cred, client.PutCredentialOptions{Exclusive: true}); !errors.Is(err, cairn.Invalid) || !strings.Contains(err.Error(), "cairn user add alice") {
		t.Fatalf("a key for a user that does not exist: %v, want Invalid naming `cairn user add alice`", err)
	}
	if _, err := adm.PutUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := adm.PutCredential(ctx, cred, client.PutCredentialOptions{Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	again := cred
	again.Secret = "second-secret-key"
	if err := adm.PutCredential(ctx, again, client.PutCredentialOptions{Exclusive: true}); !errors.Is(err, cairn.Exists) {
		t.Errorf("exclusive put of a taken key: %v, want Exists", err)
	}
	if got, err := gw.CredentialSecret(ctx, cred.AccessKey); err != nil || got.Secret != cred.Secret {
		t.Errorf("secret after a refused replacement: %+v, %v; want %q", got, err, cred.Secret)
	}
	if err := adm.PutCredential(ctx, again, client.PutCredentialOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := gw.CredentialSecret(ctx, cred.AccessKey)
	if err != nil || got.Secret != again.Secret || got.Description != "spark" || got.Created.IsZero() ||
		got.User != cred.User || got.Policy != cred.Policy {
		t.Errorf("secret after a replacement: %+v, %v; want %q with its description and creation time", got, err, again.Secret)
	}
	list, err := adm.Credentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range list {
		if c.Secret != "" {
			t.Errorf("listing returned the secret of %s", c.AccessKey)
		}
		if c.AccessKey == cred.AccessKey && (c.User != cred.User || c.Policy != cred.Policy) {
			t.Errorf("listing shows %s with user %q and policy %q; want %q and %q", c.AccessKey, c.User, c.Policy, cred.User, cred.Policy)
		}
		found = found || c.AccessKey == cred.AccessKey
	}
	if !found {
		t.Errorf("listing %+v misses %s", list, cred.AccessKey)
	}
	if err := adm.PutCredential(ctx, client.Credential{AccessKey: "SHORT", Secret: "x"}, client.PutCredentialOptions{}); !errors.Is(err, cairn.Invalid) {
		t.Errorf("a one-character secret: %v, want Invalid", err)
	}
	if err := adm.DeleteCredential(ctx, cred.AccessKey); err != nil {
		t.Fatal(err)
	}
	if _, err := gw.CredentialSecret(ctx, cred.AccessKey); !errors.Is(err, cairn.NotFound) {
		t.Errorf("secret of a deleted key: %v, want NotFound", err)
	}
	if err := adm.DeleteCredential(ctx, cred.AccessKey); !errors.Is(err, cairn.NotFound) {
		t.Errorf("deleting a deleted key: %v, want NotFound", err)
	}
}

func mustStatus(t *testing.T, adm *client.Admin) *client.ClusterStatus {
	t.Helper()
	st, err := adm.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func nodeState(t *testing.T, st *client.ClusterStatus, id cairn.NodeID) cairn.NodeState {
	t.Helper()
	n, ok := st.Node(id)
	if !ok {
		t.Fatalf("node %s is not in the status", id)
	}
	return n.State
}
