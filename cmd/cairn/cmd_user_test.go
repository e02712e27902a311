package main

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestUserAndPermissionCommands drives `cairn user`, chown, chmod and
// --as against an in-process cluster and checks the effect through the
// SDK.
func TestUserAndPermissionCommands(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, Replication: 1})
	metas := strings.Join(c.MetaAddrs(), ",")
	t.Setenv("CAIRN_CERTS_DIR", c.AdminCert().Dir()) // the CLI acts as the cluster's admin
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// run puts --meta after the command (and the user command's action).
	run := func(args ...string) int {
		n := 1
		if args[0] == "user" {
			n = 2
		}
		full := append(append(append([]string{}, args[:n]...), "--meta", metas), args[n:]...)
		return app{stdout: io.Discard}.run(ctx, full)
	}
	for _, args := range [][]string{
		{"user", "add", "alice", "--groups", "team"},
		{"user", "add", "carol"},
		{"user", "list"},
		{"mkdir", "/proj"},
		{"chown", "alice:team", "/proj"},
		{"chmod", "2770", "/proj"},
		{"mkdir", "--as", "alice", "/proj/sub"},
		{"whoami", "--as", "alice"},
	} {
		if code := run(args...); code != 0 {
			t.Fatalf("cairn %s exited %d", strings.Join(args, " "), code)
		}
	}
	fi, err := c.Client().Stat(ctx, "/proj/sub")
	if err != nil || fi.Owner != "alice" || fi.Group != "team" || fi.Mode()&fs.ModeSetgid == 0 {
		t.Fatalf("/proj/sub made as alice: %v %s:%s, %v; want alice:team with setgid", fi.Mode(), fi.Owner, fi.Group, err)
	}
	if code := run("mkdir", "--as", "carol", "/proj/x"); code != 1 {
		t.Errorf("carol's mkdir in alice's 2770 dir exited %d, want 1 (permission)", code)
	}
	t.Setenv("CAIRN_AS", "carol")
	if code := run("ls", "/proj"); code != 1 {
		t.Errorf("CAIRN_AS=carol ls /proj exited %d, want 1 (permission)", code)
	}
	t.Setenv("CAIRN_AS", "")
	if code := run("chgrp", "-R", "carol", "/proj"); code != 0 {
		t.Fatalf("chgrp -R exited %d", code)
	}
	if fi, err := c.Client().Stat(ctx, "/proj/sub"); err != nil || fi.Group != "carol" {
		t.Errorf("after chgrp -R: group %q, %v", fi.Group, err)
	}
	if code := run("user", "remove", "carol"); code != 0 {
		t.Fatalf("user remove exited %d", code)
	}
	if code := run("user", "remove", "carol"); code != 3 {
		t.Errorf("removing a missing user exited %d, want 3", code)
	}
}
