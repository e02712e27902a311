package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// waitBody polls GET addr+path until it answers want with a body
// containing substr, failing after timeout.
func waitBody(t *testing.T, addr, path string, want int, substr string, timeout time.Duration) {
	t.Helper()
	await.Until(t, timeout, func() error {
		if code, body := get(addr, path); code != want || !strings.Contains(body, substr) {
			return fmt.Errorf("GET %s%s: %d %q, want %d with %q", addr, path, code, strings.TrimSpace(body), want, substr)
		}
		return nil
	})
}

// TestMetaReadinessSaysWhy: a joining peer is not ready until it is a
// member and caught up, and a peer that begins a planned stop turns
// unready at once; each 503 says why.
func TestMetaReadinessSaysWhy(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1})
	leader := c.Leader()
	j := c.AddMeta()
	waitBody(t, c.Metas[j].HTTPAddr, "/readyz", http.StatusServiceUnavailable, "not a member", 5*time.Second)
	if err := c.AddPeer(j); err != nil {
		t.Fatal(err)
	}
	waitBody(t, c.Metas[j].HTTPAddr, "/readyz", http.StatusOK, "ok", 10*time.Second)

	follower := (leader + 1) % 3
	waitStatus(t, c.Metas[follower].HTTPAddr, "/readyz", http.StatusOK, 10*time.Second)
	c.Metas[follower].Proc.Server.BeginShutdown()
	waitBody(t, c.Metas[follower].HTTPAddr, "/readyz", http.StatusServiceUnavailable, "shutting down", time.Second)
	if code, _ := get(c.Metas[follower].HTTPAddr, "/healthz"); code != http.StatusOK {
		t.Errorf("a stopping peer is not live: /healthz %d", code)
	}
}

// TestNodeReadinessOnLeave: a data node that leaves turns unready with a
// reason, and the leader lists it as leaving, not suspect or dead.
func TestNodeReadinessOnLeave(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Metas: 1, Nodes: 2})
	dn := c.Nodes[1]
	waitStatus(t, dn.Addr, "/readyz", http.StatusOK, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := dn.Proc.Node.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	waitBody(t, dn.Addr, "/readyz", http.StatusServiceUnavailable, "shutting down", time.Second)
	st, err := c.Client().Admin().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.ID == dn.Proc.Node.ID() && n.State != cairn.NodeLeaving {
			t.Errorf("leader lists the node as %v, want leaving", n.State)
		}
	}
}
