package node

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/cairnfs/cairn/pki"
)

// TestNodeIDFromCertificate: a node whose certificate names one node
// takes that name as its ID on first start; a fleet certificate, cairn
// server's (a metadata peer's too) and no TLS leave it to pick one; an ID
// stored before stays.
func TestNodeIDFromCertificate(t *testing.T) {
	ca, err := pki.CreateCA("id test", 0)
	if err != nil {
		t.Fatal(err)
	}
	cert := func(name string, roles ...pki.Role) *pki.Source {
		dir := filepath.Join(t.TempDir(), "c")
		if err := ca.WriteCertDir(dir, pki.CertSpec{Name: name, Roles: roles, Hosts: []string{"127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
		s, err := pki.Load(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for i, c := range []struct {
		src  *pki.Source
		want string
	}{
		{cert("node-7", pki.Node), "node-7"},
		{cert("node-*", pki.Node), ""},
		{cert("server", pki.Meta, pki.Node), ""},
		{cert("alice", pki.User), ""},
		{nil, ""},
	} {
		if got := certNodeID(c.src); got != c.want {
			t.Errorf("case %d: certNodeID = %q, want %q", i, got, c.want)
		}
	}

	dir := t.TempDir()
	if id, err := loadID(dir, "node-7"); err != nil || id != "node-7" {
		t.Fatalf("first start with a certificate for node-7: %q, %v", id, err)
	}
	if id, err := loadID(dir, "node-8"); err != nil || id != "node-7" {
		t.Fatalf("a later start keeps the stored ID: %q, %v", id, err)
	}
	id, err := loadID(t.TempDir(), "")
	if err != nil || !regexp.MustCompile(`^node-[0-9a-f]{8}$`).MatchString(string(id)) {
		t.Fatalf("first start without a named certificate: %q, %v", id, err)
	}
}
