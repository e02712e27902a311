package pki

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, nil) }

// newDir issues a certificate directory under t.TempDir.
func newDir(t *testing.T, ca *CA, name string, roles ...Role) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := ca.WriteCertDir(dir, CertSpec{Name: name, Roles: roles, Hosts: []string{"127.0.0.1", "localhost"}}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := CreateCA("test CA", 0)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustLoad(t *testing.T, dir string) *Source {
	t.Helper()
	s, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serve accepts TLS connections on loopback and answers each with the
// identity of its client, until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			if err := tc.Handshake(); err != nil {
				c.Close()
				continue
			}
			cs := tc.ConnectionState()
			id, err := PeerIdentity(&cs)
			if err != nil {
				io.WriteString(c, "anonymous")
			} else {
				io.WriteString(c, id.String())
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// dial connects with cfg and returns what the server said.
func dial(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	return string(b), err
}

func TestMutualTLSAndIdentity(t *testing.T) {
	ca := mustCA(t)
	srv := mustLoad(t, newDir(t, ca, "meta-0", Meta))
	cli := mustLoad(t, newDir(t, ca, "alice", User))
	if got := cli.Identity(); got.Name != "alice" || !got.Has(User) || got.Has(Admin) {
		t.Fatalf("identity %v", got)
	}
	addr := serve(t, srv.ServerTLS(true))
	got, err := dial(addr, cli.ClientTLS())
	if err != nil || got != "alice (user)" {
		t.Fatalf("dial = %q, %v", got, err)
	}

	// A client of another CA, and a client without a certificate, are
	// refused by the server; a server of another CA is refused by the
	// client.
	other := mustCA(t)
	stranger := mustLoad(t, newDir(t, other, "mallory", Admin))
	if got, err := dial(addr, stranger.ClientTLS()); err == nil && got != "" {
		t.Fatalf("a certificate from another CA was accepted: %q", got)
	}
	bare := cli.ClientTLS()
	bare.GetClientCertificate = nil
	if got, err := dial(addr, bare); err == nil && got != "" {
		t.Fatalf("a client without a certificate was accepted: %q", got)
	}
	fake := serve(t, stranger.ServerTLS(false))
	if _, err := cli.DialTLS(t.Context(), "tcp", fake); err == nil || !strings.Contains(err.Error(), "not signed by this cluster's CA") {
		t.Fatalf("a server of another CA was trusted: %v", err)
	}

	// Optional client certificates: an anonymous client gets through and
	// is seen as anonymous.
	opt := serve(t, srv.ServerTLS(false))
	if got, err := dial(opt, bare); err != nil || got != "anonymous" {
		t.Fatalf("anonymous dial = %q, %v", got, err)
	}
}

func TestExpiredCertificateRefused(t *testing.T) {
	ca := mustCA(t)
	srv := mustLoad(t, newDir(t, ca, "node-1", Node))
	dir := filepath.Join(t.TempDir(), "old")
	if err := ca.WriteCertDir(dir, CertSpec{Name: "old", Roles: []Role{User}, NotAfter: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	old := mustLoad(t, dir)
	addr := serve(t, srv.ServerTLS(true))
	if got, err := dial(addr, old.ClientTLS()); err == nil && got != "" {
		t.Fatalf("an expired certificate was accepted: %q", got)
	}
}

func TestHostNameChecked(t *testing.T) {
	ca := mustCA(t)
	dir := filepath.Join(t.TempDir(), "n")
	if err := ca.WriteCertDir(dir, CertSpec{Name: "n", Roles: []Role{Node}, Hosts: []string{"node-7.example"}}); err != nil {
		t.Fatal(err)
	}
	srv := mustLoad(t, dir)
	cli := mustLoad(t, newDir(t, ca, "c", User))
	addr := serve(t, srv.ServerTLS(true))
	// Dialed as 127.0.0.1, which the certificate does not name.
	if _, err := dial(addr, cli.ClientTLS()); err == nil {
		t.Fatal("a certificate for another host was accepted")
	}
	cfg := cli.ClientTLS()
	cfg.ServerName = "node-7.example"
	if _, err := dial(addr, cfg); err != nil {
		t.Fatalf("dialing by the certified name: %v", err)
	}
}

func TestReloadOnChange(t *testing.T) {
	ca := mustCA(t)
	srvDir := newDir(t, ca, "meta-0", Meta)
	srv := mustLoad(t, srvDir)
	cliDir := newDir(t, ca, "alice", User)
	cli := mustLoad(t, cliDir)
	addr := serve(t, srv.ServerTLS(true))

	// Rotate the client's certificate to another identity, and the whole
	// cluster to a new CA: both ends pick the files up without a restart.
	if err := ca.WriteCertDir(cliDir, CertSpec{Name: "bob", Roles: []Role{User}}); err != nil {
		t.Fatal(err)
	}
	cli.Reload()
	if got, err := dial(addr, cli.ClientTLS()); err != nil || got != "bob (user)" {
		t.Fatalf("after rotation = %q, %v", got, err)
	}
	ca2 := mustCA(t)
	for _, d := range []struct {
		dir  string
		name string
		role Role
	}{{srvDir, "meta-0", Meta}, {cliDir, "carol", User}} {
		if err := ca2.WriteCertDir(d.dir, CertSpec{Name: d.name, Roles: []Role{d.role}, Hosts: []string{"127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Reload()
	cli.Reload()
	if got, err := dial(addr, cli.ClientTLS()); err != nil || got != "carol (user)" {
		t.Fatalf("after CA rotation = %q, %v", got, err)
	}

	// A broken file keeps the previous material in use.
	if err := os.WriteFile(filepath.Join(cliDir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli.Reload()
	if got, err := dial(addr, cli.ClientTLS()); err != nil || got != "carol (user)" {
		t.Fatalf("after a broken key = %q, %v", got, err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "cairn cert") {
		t.Fatalf("empty dir: %v", err)
	}
	ca := mustCA(t)
	caDir := filepath.Join(t.TempDir(), "ca")
	if err := ca.Save(caDir); err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(caDir); err == nil {
		t.Fatal("Save replaced an existing CA key")
	}
	back, err := LoadCA(caDir)
	if err != nil || !back.Cert.Equal(ca.Cert) {
		t.Fatalf("LoadCA: %v", err)
	}
	fi, err := os.Stat(filepath.Join(caDir, CAKey))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode: %v %v", fi.Mode(), err)
	}
	if _, _, err := ca.Issue(CertSpec{Name: "a/b", Roles: []Role{User}}); err == nil {
		t.Fatal("a name with a slash was issued")
	}
	if _, _, err := ca.Issue(CertSpec{Name: "x"}); err == nil {
		t.Fatal("a certificate without roles was issued")
	}
}

func TestPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if tightened, err := PrivateDir(dir); err != nil || tightened {
		t.Fatalf("new folder: tightened=%v, %v", tightened, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if tightened, err := PrivateDir(dir); err != nil || !tightened {
		t.Fatalf("open folder: tightened=%v, %v", tightened, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %v, %v; want 0700", fi.Mode(), err)
	}
}

// TestCovers checks the names a certificate covers, and that a fleet
// certificate's "*" survives the URI SAN.
func TestCovers(t *testing.T) {
	fleet := mustLoad(t, newDir(t, mustCA(t), "node-*", Node)).Identity()
	if fleet.Name != "node-*" {
		t.Fatalf("the fleet certificate reads back as %q", fleet.Name)
	}
	for _, c := range []struct {
		cert, id string
		want     bool
	}{
		{"node-1", "node-1", true}, {"node-1", "node-2", false}, {"node-1", "node-10", false},
		{"node-*", "node-3f2a", true}, {"node-*", "node-", false}, {"node-*", "meta-1", false},
		{"node-*", "node-*", true}, {"*", "anything", true}, {"cairn-node", "node-3f2a", false},
	} {
		if got := (Identity{Name: c.cert}).Covers(c.id); got != c.want {
			t.Errorf("%q covers %q = %v, want %v", c.cert, c.id, got, c.want)
		}
	}
	if !fleet.Covers("node-0a1b2c3d") {
		t.Error("the fleet certificate does not cover a node's ID")
	}
}
