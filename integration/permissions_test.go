package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/httpapi"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
)

func wantPermission(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, cairn.Permission) {
		t.Errorf("%s: err = %v, want Permission", what, err)
	}
}

// Two users in a shared group and one outsider, each with a user
// certificate of their own name, through the SDK.
func TestPermissionsSDK(t *testing.T) {
	ctx := context.Background()
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, Replication: 1})
	admin := c.Client()
	alice, bob, carol := c.User("alice", "team"), c.User("bob", "team"), c.User("carol")

	who, err := alice.WhoAmI(ctx)
	if err != nil || who.Name != "alice" || who.Superuser || who.UID < 1000 || !strings.Contains(strings.Join(who.Roles, ","), "user") {
		t.Fatalf("alice WhoAmI = %+v, %v", who, err)
	}
	if who, err := admin.WhoAmI(ctx); err != nil || !who.Superuser || who.Name != "root" {
		t.Fatalf("admin WhoAmI = %+v, %v", who, err)
	}

	// Homes: the admin makes them and gives them away.
	for _, u := range []string{"alice", "bob"} {
		if _, err := admin.Mkdir(ctx, "/home/"+u, client.MkdirOptions{Parents: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Chown(ctx, "/home/"+u, u, u); err != nil {
			t.Fatal(err)
		}
	}
	fi := mustWrite(t, alice, "/home/alice/notes", []byte("alice's notes"))
	if fi.Owner != "alice" || fi.Group != "alice" {
		t.Errorf("new file owner %q group %q, want alice:alice", fi.Owner, fi.Group)
	}
	if _, err := alice.Chmod(ctx, "/home/alice/notes", 0o600); err != nil {
		t.Fatal(err)
	}
	// bob may not read it, nor get the chunk locations (and read tokens).
	_, err = readAll(bob, "/home/alice/notes")
	wantPermission(t, "bob reads alice's 0600 file", err)
	if _, err := fs.ReadFile(bob.FS(ctx), "home/alice/notes"); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("bob's read through io/fs: %v, want fs.ErrPermission", err)
	}
	_, err = bob.Locations(ctx, "/home/alice/notes", 0, -1)
	wantPermission(t, "bob asks for the chunks of alice's file", err)
	mustMatch(t, alice, "/home/alice/notes", []byte("alice's notes"))
	mustMatch(t, admin, "/home/alice/notes", []byte("alice's notes"))
	// ... nor write into her home, remove or chmod her things.
	_, err = bob.WriteFile(ctx, "/home/alice/evil", bytes.NewReader([]byte("x")), client.WriteOptions{})
	wantPermission(t, "bob writes into alice's home", err)
	_, err = bob.Remove(ctx, "/home/alice/notes", client.RemoveOptions{})
	wantPermission(t, "bob removes alice's file", err)
	_, err = bob.Chmod(ctx, "/home/alice/notes", 0o666)
	wantPermission(t, "bob chmods alice's file", err)
	_, err = alice.Chown(ctx, "/home/alice/notes", "bob", "")
	wantPermission(t, "alice gives her file to bob", err)

	// A setgid project directory of group team: bob's files there belong
	// to team, alice may read them, carol may not even list.
	if _, err := admin.Mkdir(ctx, "/proj", client.MkdirOptions{Mode: 0o770}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Chown(ctx, "/proj", "alice", "team"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Chmod(ctx, "/proj", fs.ModeSetgid|0o770); err != nil {
		t.Fatal(err)
	}
	fi = mustWrite(t, bob, "/proj/plan", []byte("the plan"))
	if fi.Group != "team" || fi.Owner != "bob" {
		t.Errorf("bob's file in setgid /proj: %s:%s, want bob:team", fi.Owner, fi.Group)
	}
	mustMatch(t, alice, "/proj/plan", []byte("the plan"))
	_, err = carol.ReadDir(ctx, "/proj")
	wantPermission(t, "carol lists /proj", err)
	_, err = carol.Stat(ctx, "/proj/plan")
	wantPermission(t, "carol stats below /proj", err)
	st, err := admin.Stat(ctx, "/proj")
	if err != nil || st.Mode()&fs.ModeSetgid == 0 || st.Owner != "alice" || st.Group != "team" {
		t.Errorf("/proj = %v %s:%s, %v; want setgid, alice:team", st.Mode(), st.Owner, st.Group, err)
	}

	// Upload sessions are their creator's.
	up, err := alice.CreateMultipart(ctx, "/home/alice/big", client.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantPermission(t, "bob aborts alice's upload", bob.AbortUpload(ctx, up.ID))
	_, err = bob.GetUpload(ctx, up.ID)
	wantPermission(t, "bob reads alice's upload", err)
	if list, err := bob.ListUploads(ctx, ""); err != nil || len(list) != 0 {
		t.Errorf("bob's uploads = %v, %v; want none of alice's", list, err)
	}
	if list, err := alice.ListUploads(ctx, ""); err != nil || len(list) != 1 {
		t.Errorf("alice's uploads = %v, %v; want hers", list, err)
	}
	if err := alice.AbortUpload(ctx, up.ID); err != nil {
		t.Fatal(err)
	}

	// Acting as someone else: admins may, users may not.
	if who, err := admin.As("bob").WhoAmI(ctx); err != nil || who.Name != "bob" || who.Superuser {
		t.Errorf("admin as bob: %+v, %v", who, err)
	}
	_, err = admin.As("bob").Open(ctx, "/home/alice/notes")
	wantPermission(t, "admin acting as bob reads alice's file", err)
	_, err = alice.As("bob").Stat(ctx, "/")
	wantPermission(t, "alice acts as bob", err)

	// A user certificate without a namespace user gets a clear refusal.
	mallory := c.NewClient(client.Options{TLS: c.Cert("mallory", pki.User)})
	_, err = mallory.Stat(ctx, "/")
	wantPermission(t, "mallory, no namespace user", err)
	if err == nil || !strings.Contains(err.Error(), "cairn user add mallory") {
		t.Errorf("mallory's error %v does not say how to fix it", err)
	}

	// Admin's user management.
	users, groups, err := admin.Admin().ListUsers(ctx)
	if err != nil || len(users) != 3 || len(groups) != 4 {
		t.Errorf("ListUsers = %v %v, %v; want 3 users, 4 groups", users, groups, err)
	}
	if err := admin.Admin().DeleteUser(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
	_, err = carol.Stat(ctx, "/")
	wantPermission(t, "carol after her removal", err)
	_, err = alice.Admin().PutUser(ctx, "eve")
	wantPermission(t, "alice adds a user", err)
}

// The REST API acts as the user of the certificate; an admin may name a
// user with Cairn-Act-As, a user may not.
func TestPermissionsREST(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Nodes: 1, Replication: 1})
	c.User("alice", "team")
	c.User("bob", "team")
	rest := func(who, method, path, actAs string, body []byte) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, c.URL(c.Metas[0].HTTPAddr, path), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if actAs != "" {
			req.Header.Set(httpapi.HeaderActAs, actAs)
		}
		src := c.AdminCert()
		if who != "admin" {
			src = c.Cert(who, pki.User)
		}
		resp, err := c.HTTPClient(src).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, b := rest("admin", http.MethodPost, "/v1/files/home/alice?op=mkdir&parents=true", "", nil); code/100 != 2 {
		t.Fatalf("mkdir: %d %s", code, b)
	}
	if _, err := c.Client().Chown(context.Background(), "/home/alice", "alice", ""); err != nil {
		t.Fatal(err)
	}
	if code, b := rest("alice", http.MethodPut, "/v1/files/home/alice/f?perm=0600", "", []byte("secret")); code/100 != 2 {
		t.Fatalf("alice PUT: %d %s", code, b)
	}
	code, b := rest("alice", http.MethodGet, "/v1/stat/home/alice/f", "", nil)
	var st httpapi.Stat
	if err := json.Unmarshal(b, &st); code != 200 || err != nil || st.Owner != "alice" || st.Group != "alice" || st.Mode != "0600" {
		t.Fatalf("alice stat: %d %s", code, b)
	}
	if code, b := rest("bob", http.MethodGet, "/v1/files/home/alice/f", "", nil); code != http.StatusForbidden {
		t.Errorf("bob GET alice's 0600 file: %d %s, want 403", code, b)
	}
	if code, b := rest("admin", http.MethodGet, "/v1/files/home/alice/f", "bob", nil); code != http.StatusForbidden {
		t.Errorf("admin acting as bob GET: %d %s, want 403", code, b)
	}
	if code, b := rest("admin", http.MethodGet, "/v1/files/home/alice/f", "", nil); code != 200 || string(b) != "secret" {
		t.Errorf("admin GET: %d %s", code, b)
	}
	if code, b := rest("bob", http.MethodGet, "/v1/stat/", "alice", nil); code != http.StatusForbidden || !strings.Contains(string(b), "may not act as") {
		t.Errorf("bob acting as alice: %d %s, want 403", code, b)
	}
	if code, b := rest("bob", http.MethodPut, "/v1/files/home/alice/g", "", []byte("x")); code != http.StatusForbidden {
		t.Errorf("bob PUT into alice's home: %d %s, want 403", code, b)
	}
}
