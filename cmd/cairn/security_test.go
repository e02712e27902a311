package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnfs/cairn/pki"
)

// TestServerCerts: `cairn server` makes its CA, its certificate and an
// admin certificate once, keeps them across restarts, and reissues only
// its own certificate when it must name a new host.
func TestServerCerts(t *testing.T) {
	dir := t.TempDir()
	src, adminDir, created, err := serverCerts(dir, []string{"127.0.0.1", "localhost"}, nil)
	if err != nil || !created {
		t.Fatalf("first start: created=%v, %v", created, err)
	}
	id := src.Identity()
	for _, r := range []pki.Role{pki.Meta, pki.Node, pki.Gateway, pki.Admin} {
		if !id.Has(r) {
			t.Errorf("the server's certificate lacks the %s role: %v", r, id)
		}
	}
	admin, err := pki.Load(adminDir, nil)
	if err != nil || !admin.Identity().Has(pki.Admin) {
		t.Fatalf("admin certificate: %v, %v", admin, err)
	}
	for _, f := range []string{filepath.Join(dir, "certs", "ca", pki.CAKey), filepath.Join(adminDir, pki.KeyFile), filepath.Join(dir, "certs", "server", pki.KeyFile)} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode(), err)
		}
	}
	serial := src.Leaf().SerialNumber

	again, _, created, err := serverCerts(dir, []string{"127.0.0.1", "localhost"}, nil)
	if err != nil || created || again.Leaf().SerialNumber.Cmp(serial) != 0 {
		t.Fatalf("restart: created=%v, same certificate=%v, %v", created, again.Leaf().SerialNumber.Cmp(serial) == 0, err)
	}
	moved, _, _, err := serverCerts(dir, []string{"10.1.2.3", "127.0.0.1"}, nil)
	if err != nil || moved.Leaf().SerialNumber.Cmp(serial) == 0 || !namesAll(moved, []string{"10.1.2.3"}) {
		t.Fatalf("new advertised host: reissued=%v, %v", moved.Leaf().SerialNumber.Cmp(serial) != 0, err)
	}
	if b, err := os.ReadFile(filepath.Join(adminDir, pki.CAFile)); err != nil || !strings.Contains(string(b), "CERTIFICATE") {
		t.Errorf("the admin directory has no CA bundle: %v", err)
	}
}

// TestClientTLSLookup: the CLI refuses to run without a certificate or
// --insecure, and says how to give one.
func TestClientTLSLookup(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("HOME", t.TempDir())
	if _, err := clientTLS("", false); err == nil || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("no certificate anywhere: %v", err)
	}
	if src, err := clientTLS("", true); err != nil || src != nil {
		t.Fatalf("--insecure: %v, %v", src, err)
	}
	if _, err := clientTLS("x", true); err == nil {
		t.Fatal("--certs-dir and --insecure together were accepted")
	}
	if _, _, _, err := serverCerts("cairn-data", []string{"127.0.0.1"}, nil); err != nil {
		t.Fatal(err)
	}
	src, err := clientTLS("", false)
	if err != nil || src.Identity().Name != "root" {
		t.Fatalf("from a cairn server's folder: %v, %v", src, err)
	}
}

// TestRolesRefuseToStartUnsecured: a server role without --certs-dir
// or --insecure exits with a usage error that names both; with --insecure
// its unset listen addresses fall back to loopback, given ones stay.
func TestRolesRefuseToStartUnsecured(t *testing.T) {
	t.Setenv("CAIRN_CERTS_DIR", "")
	os.Unsetenv("CAIRN_CERTS_DIR")
	for _, args := range [][]string{
		{"meta", "--id", "m1", "--dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0"},
		{"node", "--dir", t.TempDir(), "--addr", "127.0.0.1:0"},
		{"gateway", "--addr", "127.0.0.1:0"},
	} {
		var out strings.Builder
		if code := (app{stdout: &out}).run(t.Context(), args); code != 2 {
			t.Errorf("cairn %s without certificates exited %d, want 2", args[0], code)
		}
	}
	var out strings.Builder
	if code := (app{stdout: &out}).run(t.Context(), []string{"node", "--insecure", "--print-config"}); code != 0 {
		t.Fatalf("print-config exited %d", code)
	}
	if !strings.Contains(out.String(), `"listen": "127.0.0.1:7070"`) {
		t.Errorf("an insecure node without --addr does not listen on loopback:\n%s", out.String())
	}
	out.Reset()
	if code := (app{stdout: &out}).run(t.Context(), []string{"node", "--insecure", "--addr", "0.0.0.0:7070", "--print-config"}); code != 0 {
		t.Fatalf("print-config exited %d", code)
	}
	if !strings.Contains(out.String(), `"listen": "0.0.0.0:7070"`) {
		t.Errorf("an explicit --addr was replaced:\n%s", out.String())
	}
}
