package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestMetaPeerCommands drives `cairn meta add-peer` and `remove-peer`
// against an in-process cluster, flags after the positional arguments.
func TestMetaPeerCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.New(t, testcluster.Options{Metas: 3, Nodes: 1})
	metas := strings.Join(c.MetaAddrs(), ",")
	t.Setenv("CAIRN_CERTS_DIR", c.AdminCert().Dir()) // the CLI acts as the cluster's admin
	j := c.AddMeta()
	mp := c.Metas[j]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code := (app{stdout: io.Discard}).run(ctx, []string{"meta", "add-peer", mp.ID, mp.RaftAddr, "--api-addr", mp.GRPCAddr, "--meta", metas}); code != 0 {
		t.Fatalf("add-peer exited %d", code)
	}
	if got := c.Voters(); !slices.Contains(got, mp.ID) {
		t.Fatalf("voters after add-peer: %v", got)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"meta", "remove-peer", "--meta", metas, mp.ID}); code != 0 {
		t.Fatalf("remove-peer exited %d", code)
	}
	if got := c.Voters(); slices.Contains(got, mp.ID) {
		t.Fatalf("voters after remove-peer: %v", got)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"meta", "remove-peer", "--meta", metas, "nobody"}); code != 3 {
		t.Errorf("remove-peer of an unknown peer exited %d, want 3 (not found)", code)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"meta", "add-peer", "only-an-id"}); code != 2 {
		t.Errorf("add-peer without an address exited %d, want 2 (usage)", code)
	}
}
