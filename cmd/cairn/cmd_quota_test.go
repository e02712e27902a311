package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestQuotaCommands drives `cairn quota` and `cairn du` against an
// in-process cluster and checks their output and effect.
func TestQuotaCommands(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, Replication: 1})
	metas := strings.Join(c.MetaAddrs(), ",")
	t.Setenv("CAIRN_CERTS_DIR", c.AdminCert().Dir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := c.Client()
	if _, err := cl.WriteFile(ctx, "/p/d/f", bytes.NewReader(make([]byte, 1500)), client.WriteOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
	run := func(want int, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if code := (app{stdout: &out}).run(ctx, append(args, "--meta", metas)); code != want {
			t.Fatalf("cairn %s exited %d, want %d", strings.Join(args, " "), code, want)
		}
		return out.String()
	}

	if out := run(0, "quota", "get", "/p"); !strings.Contains(out, "no quota") {
		t.Errorf("quota get before set: %q", out)
	}
	if out := run(0, "du", "/p"); out != "1500\t2\t/p\n" {
		t.Errorf("du by walking: %q", out)
	}
	out := run(0, "quota", "set", "/p", "--bytes", "2KiB", "--files", "3")
	if !strings.Contains(out, "1.5 KiB of 2.0 KiB used (73%)") || !strings.Contains(out, "2 of 3 used") {
		t.Errorf("quota set printed %q", out)
	}
	fi, err := cl.Stat(ctx, "/p")
	if err != nil || fi.Quota == nil || *fi.Quota != (client.Quota{Bytes: 2048, Files: 3}) {
		t.Fatalf("after quota set: %+v, %v", fi, err)
	}
	if out := run(0, "du", "-h", "/p", "/p/d/f"); out != "1.5 KiB\t2\t/p\n1.5 KiB\t1\t/p/d/f\n" {
		t.Errorf("du from the counters: %q", out)
	}
	if _, err := cl.WriteFile(ctx, "/p/g", bytes.NewReader(make([]byte, 600)), client.WriteOptions{}); err == nil {
		t.Error("a write past the quota set by the CLI succeeded")
	}
	run(2, "quota", "set", "/p") // no limit given
	run(2, "quota", "set", "/p", "--bytes", "lots")
	run(3, "quota", "get", "/nope")
	if out := run(0, "quota", "clear", "/p"); !strings.Contains(out, "/p has no quota") {
		t.Errorf("quota clear printed %q", out)
	}
	if fi, err := cl.Stat(ctx, "/p"); err != nil || fi.Quota != nil {
		t.Errorf("after quota clear: %+v, %v", fi, err)
	}
}
