package main

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairnfs/cairn/pki"
)

// TestCertCreateNodeRoles: a server certificate may add the admin role (a
// gateway that creates the root S3 credentials at start) but not be an
// admin alone or a user; those get client certificates.
func TestCertCreateNodeRoles(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	run := func(args ...string) int {
		return (app{stdout: io.Discard}).run(context.Background(), append([]string{"cert"}, args...))
	}
	if code := run("create-ca", "--ca-dir", ca); code != 0 {
		t.Fatalf("create-ca exited %d", code)
	}
	gw := filepath.Join(dir, "gw")
	if code := run("create-node", "--ca-dir", ca, "--out", gw, "--name", "cairn-gateway", "--roles", "gateway,admin", "--host", "cairn-s3"); code != 0 {
		t.Fatalf("create-node --roles gateway,admin exited %d", code)
	}
	src, err := pki.Load(gw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id := src.Identity(); id.Name != "cairn-gateway" || !slices.Equal(id.Roles, []pki.Role{pki.Gateway, pki.Admin}) {
		t.Errorf("identity %v, want cairn-gateway (gateway,admin)", id)
	}
	for _, roles := range []string{"admin", "user", "node,user"} {
		if code := run("create-node", "--ca-dir", ca, "--out", filepath.Join(dir, "x"), "--name", "x", "--roles", roles, "--host", "h"); code == 0 {
			t.Errorf("create-node --roles %s succeeded; want a usage error", roles)
		}
	}
}
