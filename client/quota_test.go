package client_test

import (
	"bytes"
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

// TestQuota sets a quota through the SDK, writes up to it, is refused
// past it with QuotaExceeded, sees usage in Stat and DiskUsage, and is
// refused SetQuota without the admin role.
func TestQuota(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, Replication: 1})
	cl := c.Client()
	adm := cl.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := cl.Mkdir(ctx, "/proj/sub", client.MkdirOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
	write := func(p string, n int) error {
		_, err := cl.WriteFile(ctx, p, bytes.NewReader(make([]byte, n)), client.WriteOptions{})
		return err
	}
	if err := write("/proj/sub/a", 3000); err != nil {
		t.Fatal(err)
	}
	fi, err := adm.SetQuota(ctx, "/proj", client.Quota{Bytes: 5000, Files: 10})
	if err != nil {
		t.Fatal(err)
	}
	if fi.Quota == nil || *fi.Quota != (client.Quota{Bytes: 5000, Files: 10}) || *fi.Usage != (client.Usage{Bytes: 3000, Files: 2}) {
		t.Fatalf("SetQuota answered quota %+v usage %+v", fi.Quota, fi.Usage)
	}
	err = write("/proj/b", 2001)
	if !errors.Is(err, cairn.QuotaExceeded) || !strings.Contains(err.Error(), "/proj") {
		t.Fatalf("a write past the quota: %v, want QuotaExceeded naming /proj", err)
	}
	if err := write("/proj/b", 2000); err != nil {
		t.Fatal(err)
	}
	fi, err = cl.Stat(ctx, "/proj")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Usage == nil || *fi.Usage != (client.Usage{Bytes: 5000, Files: 3}) {
		t.Errorf("Stat usage %+v, want 5000 bytes in 3 entries", fi.Usage)
	}
	for _, tc := range []struct {
		path string
		want client.Usage
	}{{"/proj", client.Usage{Bytes: 5000, Files: 3}}, {"/", client.Usage{Bytes: 5000, Files: 4}},
		{"/proj/sub", client.Usage{Bytes: 3000, Files: 1}}, {"/proj/b", client.Usage{Bytes: 2000, Files: 1}}} {
		if got, err := cl.DiskUsage(ctx, tc.path); err != nil || got != tc.want {
			t.Errorf("DiskUsage(%s) = %+v, %v; want %+v", tc.path, got, err, tc.want)
		}
	}
	if fi, err := cl.Stat(ctx, "/proj/sub"); err != nil || fi.Quota != nil {
		t.Errorf("a directory without a quota: %+v, %v", fi, err)
	}

	user := c.NewClient(client.Options{TLS: c.Cert("alice", pki.User)})
	if _, err := user.Admin().SetQuota(ctx, "/proj", client.Quota{}); !errors.Is(err, cairn.Permission) {
		t.Errorf("a user clearing a quota: %v, want Permission", err)
	}
	if _, err := adm.SetQuota(ctx, "/proj", client.Quota{}); err != nil {
		t.Fatal(err)
	}
	if err := write("/proj/c", 10000); err != nil {
		t.Errorf("after clearing the quota: %v", err)
	}
}
