package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
)

// TestCredentialAndDrainCommands drives `cairn s3 user`, `cairn node
// drain` and `cairn admin reseal-secrets` against an in-process cluster and checks their effect through the
// SDK's admin handle.
func TestCredentialAndDrainCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.New(t, testcluster.Options{Nodes: 1})
	c.WaitNodes(1)
	metas := strings.Join(c.MetaAddrs(), ",")
	t.Setenv("CAIRN_CERTS_DIR", c.AdminCert().Dir()) // the CLI acts as the cluster's admin
	// Secrets go only to gateways: read them back as one.
	gw := c.NewClient(client.Options{TLS: c.Cert("gw", pki.Gateway)}).Admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "add", "--description", "cli", "--meta", metas, "CLIKEY", "a-long-secret"}); code != 0 {
		t.Fatalf("s3 user add exited %d", code)
	}
	cred, err := gw.CredentialSecret(ctx, "CLIKEY")
	if err != nil || cred.Secret != "a-long-secret" || cred.Description != "cli" {
		t.Fatalf("after s3 user add: %+v, %v", cred, err)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "add", "--meta", metas, "CLIKEY", "another-secret"}); code != 1 {
		t.Errorf("adding a taken key exited %d, want 1", code)
	}
	if cred, err := gw.CredentialSecret(ctx, "CLIKEY"); err != nil || cred.Secret != "a-long-secret" {
		t.Errorf("a refused add changed the key: %+v, %v", cred, err)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "list", "--meta", metas}); code != 0 {
		t.Errorf("s3 user list exited %d", code)
	}
	// A key for a user, limited by an identity policy from a file; a
	// policy that does not parse is refused before anything is stored.
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	const doc = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub/*"}}`
	if err := os.WriteFile(good, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"ec2:*"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "add", "--meta", metas, "--user", "alice", "--policy", good,
		"ALICEKEY", "alices-secret"}); code != 0 {
		t.Fatalf("s3 user add --user --policy exited %d", code)
	}
	if cred, err := gw.CredentialSecret(ctx, "ALICEKEY"); err != nil || cred.User != "alice" || cred.Policy != doc {
		t.Errorf("after s3 user add --user --policy: %+v, %v", cred, err)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "add", "--meta", metas, "--policy", bad, "BADKEY", "bads-secret"}); code != 2 {
		t.Errorf("s3 user add with a malformed policy exited %d, want 2", code)
	}
	if _, err := gw.CredentialSecret(ctx, "BADKEY"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("a key with a malformed policy was stored: %v", err)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "remove", "--meta", metas, "CLIKEY"}); code != 0 {
		t.Fatalf("s3 user remove exited %d", code)
	}
	if _, err := gw.CredentialSecret(ctx, "CLIKEY"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("after s3 user remove: %v, want NotFound", err)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"s3", "user", "remove", "--meta", metas, "CLIKEY"}); code != 3 {
		t.Errorf("removing a missing key exited %d, want 3 (not found)", code)
	}

	id := c.Nodes[0].Proc.Node.ID()
	if code := (app{stdout: io.Discard}).run(ctx, []string{"node", "drain", "--meta", metas, string(id)}); code != 0 {
		t.Fatalf("node drain exited %d", code)
	}
	if got := c.NodeState(id); got != cairn.NodeDraining {
		t.Errorf("after node drain the node is %v, want draining", got)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"node", "drain", "--undo", "--meta", metas, string(id)}); code != 0 {
		t.Fatalf("node drain --undo exited %d", code)
	}
	if got := c.NodeState(id); got != cairn.NodeAlive {
		t.Errorf("after node drain --undo the node is %v, want alive", got)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"node", "drain", "--meta", metas, "nobody"}); code != 3 {
		t.Errorf("draining an unknown node exited %d, want 3 (not found)", code)
	}

	// Everything is sealed under the cluster's key already: a reseal
	// succeeds with nothing to do.
	if code := (app{stdout: io.Discard}).run(ctx, []string{"admin", "reseal-secrets", "--meta", metas}); code != 0 {
		t.Errorf("admin reseal-secrets exited %d", code)
	}
	if code := (app{stdout: io.Discard}).run(ctx, []string{"admin", "rotate-everything"}); code != 2 {
		t.Errorf("an unknown admin command exited %d, want 2 (usage)", code)
	}
}
