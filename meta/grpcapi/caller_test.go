package grpcapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/state"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// newUserCore is a core over a fresh state machine holding user alice.
func newUserCore(t *testing.T) *core {
	t.Helper()
	st, err := state.Open(t.TempDir(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if r, _ := st.Apply(1, &pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: "alice", Groups: []string{"team"}}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	return &core{st: st, users: &userCache{}}
}

func actingAs(ctx context.Context, name string) context.Context {
	return metadata.NewIncomingContext(ctx, metadata.Pairs(ActAsHeader, name))
}

func TestPrincipal(t *testing.T) {
	c := newUserCore(t)
	insecure := peer.NewContext(context.Background(), &peer.Peer{})
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		want  string // the principal's name; "" = refused
		whyNo string
	}{
		{"a user certificate", callerCtx(t, "alice", pki.User), "alice", ""},
		{"a user certificate without namespace user", callerCtx(t, "bob", pki.User), "", "cairn user add bob"},
		{"a user acting as another", actingAs(callerCtx(t, "alice", pki.User), "root"), "", "may not act as"},
		{"a user naming itself", actingAs(callerCtx(t, "alice", pki.User), "alice"), "alice", ""},
		{"an admin", callerCtx(t, "ops", pki.Admin), state.RootName, ""},
		{"an admin acting as alice", actingAs(callerCtx(t, "ops", pki.Admin), "alice"), "alice", ""},
		{"a gateway acting as nobody", actingAs(callerCtx(t, "gw", pki.Gateway), "nobody"), "", "no namespace user nobody"},
		{"a data node naming a user", actingAs(callerCtx(t, "n1", pki.Node), "alice"), state.RootName, ""},
		{"no TLS", insecure, state.RootName, ""},
		{"no TLS acting as alice", actingAs(insecure, "alice"), "alice", ""},
	} {
		p, err := c.principal(tc.ctx)
		switch {
		case tc.want == "" && (!errors.Is(err, cairn.Permission) || !strings.Contains(err.Error(), tc.whyNo)):
			t.Errorf("%s: %v, want Permission saying %q", tc.name, err, tc.whyNo)
		case tc.want != "" && (err != nil || p.name != tc.want):
			t.Errorf("%s: principal %q, %v; want %q", tc.name, p.name, err, tc.want)
		case tc.want == "alice" && (p.caller == nil || p.caller.Uid != state.FirstID || len(p.caller.Groups) != 1):
			t.Errorf("%s: caller %v, want alice's uid and one group", tc.name, p.caller)
		case tc.want == state.RootName && !p.super():
			t.Errorf("%s: not the superuser", tc.name)
		}
	}
}

// Names follow the users generation: a user added later is found, and
// attributes get names (numbers when nobody has them).
func TestUserCacheFollowsGeneration(t *testing.T) {
	c := newUserCore(t)
	a := &pb.Attr{Uid: state.FirstID, Gid: state.FirstID}
	b := &pb.Attr{Uid: 4242, Gid: 0}
	if err := c.users.names(c.st, a, b); err != nil {
		t.Fatal(err)
	}
	if a.Owner != "alice" || a.Group != "alice" || b.Owner != "4242" || b.Group != state.RootName {
		t.Errorf("names: %s:%s and %s:%s", a.Owner, a.Group, b.Owner, b.Group)
	}
	if u, _, _ := c.users.lookup(c.st, "bob"); u != nil {
		t.Fatal("bob found before he exists")
	}
	if r, _ := c.st.Apply(2, &pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: "bob"}}}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if u, _, err := c.users.lookup(c.st, "bob"); err != nil || u == nil {
		t.Errorf("bob after PutUser: %v, %v", u, err)
	}
}
