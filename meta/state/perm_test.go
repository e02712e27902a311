package state

import (
	"testing"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// permHarness applies commands as namespace users.
type permHarness struct {
	*fsmHarness
	callers map[string]*pb.Caller
}

// newPermHarness makes users alice and bob (both in group "team") and
// carol (alone), and a world-writable /pub and a team-only /team.
func newPermHarness(t *testing.T) *permHarness {
	h := &permHarness{fsmHarness: newMachine(t), callers: map[string]*pb.Caller{}}
	for _, u := range []struct {
		name   string
		groups []string
	}{{"alice", []string{"team"}}, {"bob", []string{"team"}}, {"carol", nil}} {
		r := h.apply(&pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: u.name, Groups: u.groups}}})
		h.mustOK(r.Err)
		c, err := h.f.Latest().CallerOf(r.Resp.(*pb.User))
		h.mustOK(err)
		h.callers[u.name] = c
	}
	_, err := h.as("", &pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: "/pub", Mode: 0o777}}})
	h.mustOK(err)
	return h
}

// as applies cmd as user name ("" = no caller, the superuser).
func (h *permHarness) as(name string, cmd *pb.Command) (Result, error) {
	h.t.Helper()
	cmd.Caller = h.callers[name]
	r := h.apply(cmd)
	return r, r.Err
}

func (h *permHarness) mkdirAs(name, path string, mode uint32) error {
	_, err := h.as(name, &pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: path, Mode: mode}}})
	return err
}

func (h *permHarness) writeAs(name, path string, mode pb.CommitMode) error {
	_, err := h.as(name, &pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: path, Mode: mode,
		Chunks: storedAll(newChunk(h.t, 10))}}})
	return err
}

func (h *permHarness) setAttrAs(name string, req *pb.SetAttrRequest) error {
	_, err := h.as(name, &pb.Command{Op: &pb.Command_SetAttr{SetAttr: req}})
	return err
}

func (h *permHarness) removeAs(name, path string, recursive bool) error {
	_, err := h.as(name, &pb.Command{Op: &pb.Command_Remove{Remove: &pb.RemoveRequest{Path: path, Recursive: recursive}}})
	return err
}

func (h *permHarness) renameAs(name, src, dst string) error {
	_, err := h.as(name, &pb.Command{Op: &pb.Command_Rename{Rename: &pb.RenameRequest{Src: src, Dst: dst}}})
	return err
}

func u32(v uint32) *uint32 { return &v }

func TestUsersTable(t *testing.T) {
	h := newPermHarness(t)
	a, b := h.callers["alice"], h.callers["bob"]
	if a.Uid != FirstID || b.Uid != FirstID+1 || a.Gid == b.Gid || len(a.Groups) != 1 || a.Groups[0] != b.Groups[0] {
		t.Fatalf("alice %v, bob %v: want uids from %d, own primary groups, one shared group", a, b, FirstID)
	}
	gen, _ := h.f.Latest().UsersGeneration()
	// Changing alice's groups keeps her uid and bumps the generation.
	r, err := h.as("", &pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: "alice"}}})
	h.mustOK(err)
	if u := r.Resp.(*pb.User); u.Uid != a.Uid || len(u.Groups) != 0 {
		t.Errorf("alice after update = %v", u)
	}
	if gen2, _ := h.f.Latest().UsersGeneration(); gen2 <= gen {
		t.Errorf("generation %d -> %d, want it to grow", gen, gen2)
	}
	_, err = h.as("bob", &pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: "mallory"}}})
	wantKind(t, "bob adds a user", err, cairn.Permission)
	_, err = h.as("", &pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: "root"}}})
	wantKind(t, "a user named root", err, cairn.Invalid)
	_, err = h.as("", &pb.Command{Op: &pb.Command_DeleteUser{DeleteUser: &pb.DeleteUserRequest{Name: "carol"}}})
	h.mustOK(err)
	if _, err := h.f.Latest().User("carol"); cairn.KindOf(err) != cairn.NotFound {
		t.Errorf("carol after delete: %v", err)
	}
	// A new user never gets a removed user's uid.
	r, err = h.as("", &pb.Command{Op: &pb.Command_PutUser{PutUser: &pb.PutUserRequest{Name: "dave"}}})
	h.mustOK(err)
	if u := r.Resp.(*pb.User); u.Uid != FirstID+3 {
		t.Errorf("dave's uid = %d, want %d", u.Uid, FirstID+3)
	}
}

func TestOwnerGroupOtherBits(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.mkdirAs("alice", "/pub/a", 0o750))
	a := h.mustStat("/pub/a")
	if a.Uid != h.callers["alice"].Uid || a.Gid != h.callers["alice"].Gid {
		t.Fatalf("/pub/a owned by %d:%d, want alice's %v", a.Uid, a.Gid, h.callers["alice"])
	}
	h.mustOK(h.writeAs("alice", "/pub/a/f", pb.CommitMode_COMMIT_CREATE))
	// Group "alice" is alice's own: bob is other and may not even search.
	wantKind(t, "bob writes into 0750 dir of another group", h.writeAs("bob", "/pub/a/g", pb.CommitMode_COMMIT_CREATE), cairn.Permission)
	_, err := h.f.Latest().StatAs("/pub/a/f", h.callers["bob"], AccessNone)
	wantKind(t, "bob stats below a dir he may not search", err, cairn.Permission)
	// Give the dir to team: bob may search and read, not write.
	h.mustOK(h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/a", Group: "team"}))
	if _, err := h.f.Latest().StatAs("/pub/a/f", h.callers["bob"], AccessRead); err != nil {
		t.Errorf("bob reads team file 0644: %v", err)
	}
	wantKind(t, "bob creates in team dir 0750", h.writeAs("bob", "/pub/a/g", pb.CommitMode_COMMIT_CREATE), cairn.Permission)
	wantKind(t, "bob overwrites alice's 0644", h.writeAs("bob", "/pub/a/f", pb.CommitMode_COMMIT_OVERWRITE), cairn.Permission)
	h.mustOK(h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/a/f", Mode: u32(0o660), Group: "team"}))
	h.mustOK(h.writeAs("bob", "/pub/a/f", pb.CommitMode_COMMIT_OVERWRITE))
	_, err = h.f.Latest().StatAs("/pub/a/f", h.callers["carol"], AccessNone)
	wantKind(t, "carol (other) searches 0750", err, cairn.Permission)
	// The superuser passes everything.
	h.mustOK(h.writeAs("", "/pub/a/f", pb.CommitMode_COMMIT_OVERWRITE))
	h.mustOK(h.mkdirAs("alice", "/pub/a/private", 0o700))
	wantKind(t, "bob lists 0700", func() error {
		_, err := h.f.Latest().StatAs("/pub/a/private", h.callers["bob"], AccessRead)
		return err
	}(), cairn.Permission)
	// Removing needs w+x on the parent: bob has only r-x on /pub/a.
	wantKind(t, "bob removes from r-x dir", h.removeAs("bob", "/pub/a/f", false), cairn.Permission)
	h.mustOK(h.removeAs("alice", "/pub/a/f", false))
}

func TestStickyDirectory(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.mkdirAs("", "/tmp", 0o1777))
	h.mustOK(h.writeAs("alice", "/tmp/a", pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.writeAs("bob", "/tmp/b", pb.CommitMode_COMMIT_CREATE))
	wantKind(t, "bob removes alice's file in sticky /tmp", h.removeAs("bob", "/tmp/a", false), cairn.Permission)
	wantKind(t, "bob renames alice's file in sticky /tmp", h.renameAs("bob", "/tmp/a", "/tmp/c"), cairn.Permission)
	wantKind(t, "bob replaces alice's file in sticky /tmp", h.renameAs("bob", "/tmp/b", "/tmp/a"), cairn.Permission)
	h.mustOK(h.renameAs("bob", "/tmp/b", "/tmp/b2"))
	h.mustOK(h.removeAs("alice", "/tmp/a", false))
	// Without sticky, w+x on the directory is enough.
	h.mustOK(h.writeAs("alice", "/pub/a", pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.removeAs("bob", "/pub/a", false))
	// The directory's owner may remove anything in it.
	h.mustOK(h.mkdirAs("alice", "/pub/s", 0o1777))
	h.mustOK(h.writeAs("bob", "/pub/s/b", pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.removeAs("alice", "/pub/s/b", false))
}

func TestRenameAcrossDirectories(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.mkdirAs("alice", "/pub/a", 0o755))
	h.mustOK(h.mkdirAs("bob", "/pub/b", 0o755))
	h.mustOK(h.writeAs("alice", "/pub/a/f", pb.CommitMode_COMMIT_CREATE))
	wantKind(t, "alice moves into bob's dir", h.renameAs("alice", "/pub/a/f", "/pub/b/f"), cairn.Permission)
	wantKind(t, "bob moves out of alice's dir", h.renameAs("bob", "/pub/a/f", "/pub/b/f"), cairn.Permission)
	h.mustOK(h.setAttrAs("bob", &pb.SetAttrRequest{Path: "/pub/b", Mode: u32(0o777)}))
	h.mustOK(h.renameAs("alice", "/pub/a/f", "/pub/b/f"))
	// Moving a directory to another parent needs write on it ("..").
	h.mustOK(h.mkdirAs("", "/pub/a/sub", 0o555))
	h.mustOK(h.setAttrAs("", &pb.SetAttrRequest{Path: "/pub/a/sub", Owner: "alice"}))
	wantKind(t, "move of a dir alice may not write", h.renameAs("alice", "/pub/a/sub", "/pub/b/sub"), cairn.Permission)
	h.mustOK(h.renameAs("alice", "/pub/a/sub", "/pub/a/sub2"))
	if _, err := h.stat("/pub/a/f"); cairn.KindOf(err) != cairn.NotFound {
		t.Errorf("/pub/a/f after the move: %v", err)
	}
}

func TestSetgidDirectory(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.mkdirAs("alice", "/pub/proj", 0o2775))
	h.mustOK(h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/proj", Group: "team"}))
	team := h.mustStat("/pub/proj").Gid
	h.mustOK(h.writeAs("bob", "/pub/proj/f", pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.mkdirAs("bob", "/pub/proj/d", 0o755))
	f, d := h.mustStat("/pub/proj/f"), h.mustStat("/pub/proj/d")
	if f.Gid != team || d.Gid != team || f.Uid != h.callers["bob"].Uid {
		t.Errorf("in a setgid dir: file %d:%d, dir gid %d; want owner bob, group team (%d)", f.Uid, f.Gid, d.Gid, team)
	}
	if d.Mode&0o2000 == 0 || f.Mode&0o2000 != 0 {
		t.Errorf("modes file %o dir %o: want setgid passed to the new dir only", f.Mode, d.Mode)
	}
	// Outside: the creator's primary group.
	h.mustOK(h.writeAs("bob", "/pub/g", pb.CommitMode_COMMIT_CREATE))
	if g := h.mustStat("/pub/g"); g.Gid != h.callers["bob"].Gid {
		t.Errorf("gid %d, want bob's primary %d", g.Gid, h.callers["bob"].Gid)
	}
}

func TestChmodChownRules(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.writeAs("alice", "/pub/f", pb.CommitMode_COMMIT_CREATE))
	wantKind(t, "bob chmods alice's file", h.setAttrAs("bob", &pb.SetAttrRequest{Path: "/pub/f", Mode: u32(0o777)}), cairn.Permission)
	h.mustOK(h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/f", Mode: u32(0o4755)}))
	wantKind(t, "alice gives her file away", h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/f", Owner: "bob"}), cairn.Permission)
	wantKind(t, "alice chgrps to a group she is not in", h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/f", Group: "carol"}), cairn.Permission)
	wantKind(t, "chown to nobody", h.setAttrAs("", &pb.SetAttrRequest{Path: "/pub/f", Owner: "nobody"}), cairn.NotFound)
	h.mustOK(h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/f", Group: "team"}))
	if a := h.mustStat("/pub/f"); a.Mode&0o4000 != 0 {
		t.Errorf("mode %o after chgrp: setuid should be cleared", a.Mode)
	}
	h.mustOK(h.setAttrAs("", &pb.SetAttrRequest{Path: "/pub/f", Owner: "bob", Mode: u32(0o4777)}))
	a := h.mustStat("/pub/f")
	if a.Uid != h.callers["bob"].Uid || a.Mode != 0o4777 {
		t.Errorf("after root's chown+chmod: uid %d mode %o", a.Uid, a.Mode)
	}
	// A write by someone else clears setuid.
	h.mustOK(h.writeAs("alice", "/pub/f", pb.CommitMode_COMMIT_OVERWRITE))
	if a := h.mustStat("/pub/f"); a.Mode != 0o777 {
		t.Errorf("mode %o after alice's write, want 0777 (setuid cleared)", a.Mode)
	}
	// Xattrs need write permission.
	h.mustOK(h.setAttrAs("", &pb.SetAttrRequest{Path: "/pub/f", Mode: u32(0o644)}))
	wantKind(t, "alice sets xattrs on bob's 0644", h.setAttrAs("alice", &pb.SetAttrRequest{Path: "/pub/f", SetXattrs: map[string]string{"k": "v"}}), cairn.Permission)
}

func TestRecursiveRemoveNeedsEveryDirectory(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.mkdirAs("alice", "/pub/t", 0o777))
	h.mustOK(h.mkdirAs("alice", "/pub/t/locked", 0o755))
	h.mustOK(h.writeAs("alice", "/pub/t/locked/f", pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.writeAs("bob", "/pub/t/mine", pb.CommitMode_COMMIT_CREATE))
	wantKind(t, "bob rm -r through alice's 0755 dir", h.removeAs("bob", "/pub/t", true), cairn.Permission)
	// Nothing was removed by the refused command.
	h.mustStat("/pub/t/mine")
	h.mustStat("/pub/t/locked/f")
	h.mustOK(h.removeAs("alice", "/pub/t", true))
}

func TestUploadSessionOwner(t *testing.T) {
	h := newPermHarness(t)
	_, err := h.as("alice", &pb.Command{UploadId: "u1", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/pub/big", ChunkSize: 10}}})
	h.mustOK(err)
	c := newChunk(t, 10)
	add := &pb.Command{Op: &pb.Command_AddUploadChunks{AddUploadChunks: &pb.AddUploadChunksRequest{Id: "u1", Chunks: []*pb.StoredChunk{c.stored()}}}}
	_, err = h.as("bob", add)
	wantKind(t, "bob adds to alice's session", err, cairn.Permission)
	_, err = h.as("bob", &pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: &pb.AbortUploadRequest{Id: "u1"}}})
	wantKind(t, "bob aborts alice's session", err, cairn.Permission)
	_, err = h.as("alice", add)
	h.mustOK(err)
	r, err := h.as("alice", &pb.Command{Op: &pb.Command_CompleteUpload{CompleteUpload: &pb.CompleteUploadRequest{Id: "u1", ChunkCount: 1}}})
	h.mustOK(err)
	if a := r.Resp.(*pb.StatResponse).Attr; a.Uid != h.callers["alice"].Uid {
		t.Errorf("completed file owned by %d", a.Uid)
	}
}

// A command without a caller (every entry written before users existed)
// applies as the superuser: old logs replay unchanged.
func TestCommandWithoutCallerIsSuperuser(t *testing.T) {
	h := newPermHarness(t)
	h.mustOK(h.mkdirAs("alice", "/pub/a", 0o700))
	h.mustOK(h.writeAs("alice", "/pub/a/f", pb.CommitMode_COMMIT_CREATE))
	r := h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{Path: "/pub/a/f", Mode: u32(0o600)}}})
	h.mustOK(r.Err)
	h.mustOK(h.apply(&pb.Command{Op: &pb.Command_Remove{Remove: &pb.RemoveRequest{Path: "/pub/a", Recursive: true}}}).Err)
	h.mustOK(h.writeAs("", "/old", pb.CommitMode_COMMIT_CREATE))
	if a := h.mustStat("/old"); a.Uid != 0 || a.Gid != 0 {
		t.Errorf("a file written without caller is owned by %d:%d, want root", a.Uid, a.Gid)
	}
}
