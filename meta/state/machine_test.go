package state

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// fsmHarness drives a Machine with hand-built log entries; no network, no
// Raft.
type fsmHarness struct {
	t   testing.TB
	f   *Machine
	dir string
	idx uint64
	now int64
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newMachine(t *testing.T) *fsmHarness {
	t.Helper()
	h := &fsmHarness{t: t, dir: t.TempDir(), now: 1_000_000_000}
	h.open()
	return h
}

func (h *fsmHarness) open() {
	h.t.Helper()
	f, err := Open(h.dir, discardLogger())
	if err != nil {
		h.t.Fatal(err)
	}
	h.f = f
	h.t.Cleanup(func() {
		if h.f == f {
			f.Close()
			h.f = nil
		}
	})
}

func (h *fsmHarness) reopen() {
	h.t.Helper()
	if err := h.f.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.f = nil
	h.open()
}

// entry is a committed log entry: its index and command.
type entry struct {
	index uint64
	cmd   *pb.Command
}

// entry stamps cmd with the time and gives it the next log index.
func (h *fsmHarness) entry(cmd *pb.Command) entry {
	h.t.Helper()
	h.idx++
	h.now += 1000
	cmd.NowNs = h.now
	return entry{h.idx, cmd}
}

func (h *fsmHarness) apply(cmd *pb.Command) Result {
	h.t.Helper()
	e := h.entry(cmd)
	r, ok := h.f.Apply(e.index, e.cmd)
	if !ok {
		h.t.Fatalf("Apply skipped a fresh entry")
	}
	return r
}

func attrOf(h *fsmHarness, r Result) (*pb.Attr, error) {
	h.t.Helper()
	if r.Err != nil {
		return nil, r.Err
	}
	sr, ok := r.Resp.(*pb.StatResponse)
	if !ok {
		h.t.Fatalf("response is %T, want *StatResponse", r.Resp)
	}
	return sr.Attr, nil
}

func (h *fsmHarness) mkdir(path string, parents bool) (*pb.Attr, error) {
	h.t.Helper()
	return attrOf(h, h.apply(&pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: path, Parents: parents}}}))
}

func (h *fsmHarness) commit(req *pb.CommitRequest) (*pb.Attr, error) {
	h.t.Helper()
	return attrOf(h, h.apply(&pb.Command{Op: &pb.Command_Commit{Commit: req}}))
}

func (h *fsmHarness) rename(src, dst string, noReplace bool) error {
	h.t.Helper()
	return h.apply(&pb.Command{Op: &pb.Command_Rename{Rename: &pb.RenameRequest{Src: src, Dst: dst, NoReplace: noReplace}}}).Err
}

func (h *fsmHarness) remove(path string, recursive bool) (*pb.RemoveResponse, error) {
	h.t.Helper()
	r := h.apply(&pb.Command{Op: &pb.Command_Remove{Remove: &pb.RemoveRequest{Path: path, Recursive: recursive}}})
	if r.Err != nil {
		return nil, r.Err
	}
	return r.Resp.(*pb.RemoveResponse), nil
}

func (h *fsmHarness) mustOK(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// stat resolves path in the committed database.
func (h *fsmHarness) stat(path string) (*pb.Attr, error) { return resolve(h.f.db, path) }

func (h *fsmHarness) mustStat(path string) *pb.Attr {
	h.t.Helper()
	a, err := h.stat(path)
	if err != nil {
		h.t.Fatalf("stat %s: %v", path, err)
	}
	return a
}

func (h *fsmHarness) ls(path string) []string {
	h.t.Helper()
	a := h.mustStat(path)
	var names []string
	err := listDir(h.f.db, cairn.InodeID(a.Inode), "", func(name string, _ *pb.Dirent) (bool, error) {
		names = append(names, name)
		return true, nil
	})
	h.mustOK(err)
	return names
}

func (h *fsmHarness) chunks(path string) []*pb.ChunkRef {
	h.t.Helper()
	a := h.mustStat(path)
	var out []*pb.ChunkRef
	h.mustOK(fileChunks(h.f.db, cairn.InodeID(a.Inode), 0, -1, func(c *pb.ChunkRef) error {
		out = append(out, c)
		return nil
	}))
	return out
}

// prefixed returns every key with the one-byte table tag.
func (h *fsmHarness) prefixed(tag byte) map[string][]byte {
	h.t.Helper()
	it, err := h.f.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tag}, UpperBound: []byte{tag + 1}})
	h.mustOK(err)
	defer it.Close()
	out := map[string][]byte{}
	for it.First(); it.Valid(); it.Next() {
		out[string(it.Key())] = slices.Clone(it.Value())
	}
	return out
}

// garbage returns the garbage table: chunk ID -> record.
func (h *fsmHarness) garbage() map[cairn.ChunkID]*pb.GarbageRecord {
	h.t.Helper()
	out := map[cairn.ChunkID]*pb.GarbageRecord{}
	for k, v := range h.prefixed(tagGarbage) {
		id, err := cairn.ChunkIDFromBytes([]byte(k[1:]))
		h.mustOK(err)
		rec := &pb.GarbageRecord{}
		h.mustOK(proto.Unmarshal(v, rec))
		out[id] = rec
	}
	return out
}

// testChunk is a chunk of random data as a data node would have stored it.
type testChunk struct {
	id   cairn.ChunkID
	data []byte
}

func newChunk(t testing.TB, n int) testChunk {
	t.Helper()
	c := testChunk{id: cairn.NewChunkID(), data: make([]byte, n)}
	rand.Read(c.data)
	return c
}

func (c testChunk) stored(nodes ...string) *pb.StoredChunk {
	if len(nodes) == 0 {
		nodes = []string{"n1"}
	}
	return &pb.StoredChunk{Chunk: &pb.ChunkRef{Id: c.id[:], Length: int64(len(c.data)), Crc32C: checksum.CRC32C(c.data)}, Nodes: nodes}
}

func storedAll(cs ...testChunk) []*pb.StoredChunk {
	var out []*pb.StoredChunk
	for _, c := range cs {
		out = append(out, c.stored())
	}
	return out
}

func concat(cs ...testChunk) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, c.data...)
	}
	return b
}

func wantKind(t *testing.T, what string, err error, k cairn.Kind) {
	t.Helper()
	if !errors.Is(err, k) {
		t.Errorf("%s: err = %v (kind %v), want %v", what, err, cairn.KindOf(err), k)
	}
}

// checkContent verifies a file's size, composite CRC and chunk layout
// against the chunks it should consist of.
func (h *fsmHarness) checkContent(path string, want ...testChunk) {
	h.t.Helper()
	a := h.mustStat(path)
	data := concat(want...)
	if a.Size != int64(len(data)) {
		h.t.Errorf("%s: size %d, want %d", path, a.Size, len(data))
	}
	if a.Crc32C != checksum.CRC32C(data) {
		h.t.Errorf("%s: crc %08x, want %08x", path, a.Crc32C, checksum.CRC32C(data))
	}
	if a.Chunks != uint64(len(want)) {
		h.t.Errorf("%s: %d chunks in attr, want %d", path, a.Chunks, len(want))
	}
	refs := h.chunks(path)
	if len(refs) != len(want) {
		h.t.Fatalf("%s: %d chunk refs, want %d", path, len(refs), len(want))
	}
	off := int64(0)
	for i, r := range refs {
		if !bytes.Equal(r.Id, want[i].id[:]) || r.Offset != off || r.Length != int64(len(want[i].data)) {
			h.t.Errorf("%s: chunk %d = {%x off %d len %d}, want {%s off %d len %d}", path, i, r.Id, r.Offset, r.Length, want[i].id, off, len(want[i].data))
		}
		off += int64(len(want[i].data))
		// The chunk's location record names this file.
		rec := &pb.ChunkRecord{}
		ok, err := getProto(h.f.db, locKey(want[i].id), rec)
		if err != nil || !ok || rec.Inode != a.Inode || !slices.Equal(rec.Nodes, []string{"n1"}) {
			h.t.Errorf("%s: location of chunk %d = %v (found %v, %v)", path, i, rec, ok, err)
		}
	}
}

func TestMkdir(t *testing.T) {
	h := newMachine(t)
	a, err := h.mkdir("/a", false)
	h.mustOK(err)
	if !a.Dir || a.Mode != 0o755 || a.Name != "a" || a.Parent != uint64(cairn.RootInode) || a.Inode <= uint64(cairn.RootInode) {
		t.Errorf("mkdir /a attr = %v", a)
	}
	if got := h.mustStat("/a"); !proto.Equal(got, a) {
		t.Errorf("stat /a = %v, want %v", got, a)
	}
	_, err = h.mkdir("/a", false)
	wantKind(t, "mkdir existing", err, cairn.Exists)
	again, err := h.mkdir("/a", true)
	if err != nil || again.Inode != a.Inode {
		t.Errorf("mkdir -p existing = %v, %v; want inode %d", again, err, a.Inode)
	}

	_, err = h.mkdir("/x/y", false)
	wantKind(t, "mkdir without parents", err, cairn.NotFound)
	if _, err := h.stat("/x"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("failed mkdir created /x: %v", err)
	}
	z, err := h.mkdir("/x/y/z", true)
	h.mustOK(err)
	y := h.mustStat("/x/y")
	if z.Parent != y.Inode || !y.Dir || !h.mustStat("/x").Dir {
		t.Errorf("mkdir -p: z.parent %d, y %v", z.Parent, y)
	}
	if got := h.ls("/"); !slices.Equal(got, []string{"a", "x"}) {
		t.Errorf("ls / = %q", got)
	}

	m, err := h.attrOfMode("/m", 0o40700)
	h.mustOK(err)
	if m.Mode != 0o700 {
		t.Errorf("mode = %o, want 700", m.Mode)
	}

	_, err = h.mkdir("/", false)
	wantKind(t, "mkdir /", err, cairn.Exists)
	root, err := h.mkdir("/", true)
	if err != nil || root.Inode != uint64(cairn.RootInode) {
		t.Errorf("mkdir -p / = %v, %v", root, err)
	}
	_, err = h.mkdir("a/b", true)
	wantKind(t, "relative path", err, cairn.Invalid)
	_, err = h.mkdir("/a/../b", true)
	wantKind(t, "dot-dot", err, cairn.Invalid)

	// Over and under a file.
	_, err = h.commit(&pb.CommitRequest{Path: "/f", Chunks: storedAll(newChunk(t, 10))})
	h.mustOK(err)
	_, err = h.mkdir("/f", false)
	wantKind(t, "mkdir over file", err, cairn.Exists)
	_, err = h.mkdir("/f", true)
	wantKind(t, "mkdir -p over file", err, cairn.Exists)
	_, err = h.mkdir("/f/sub", true)
	wantKind(t, "mkdir under file", err, cairn.NotDir)
	_, err = h.mkdir("/f/sub/deeper", true)
	wantKind(t, "mkdir -p under file", err, cairn.NotDir)
}

func (h *fsmHarness) attrOfMode(path string, mode uint32) (*pb.Attr, error) {
	return attrOf(h, h.apply(&pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: path, Mode: mode}}}))
}

func TestCommitCreateOverwriteAppend(t *testing.T) {
	h := newMachine(t)
	c1, c2 := newChunk(t, 1000), newChunk(t, 333)
	a, err := h.commit(&pb.CommitRequest{Path: "/d/e/f", Parents: true, Chunks: storedAll(c1, c2), Replication: 3, ChunkSize: 1000})
	h.mustOK(err)
	if a.Dir || a.Version != 1 || a.Mode != 0o644 || a.Replication != 3 || a.ChunkSize != 1000 || a.Name != "f" {
		t.Errorf("created attr = %v", a)
	}
	if a.MtimeNs != h.now {
		t.Errorf("mtime %d, want the command's time %d", a.MtimeNs, h.now)
	}
	h.checkContent("/d/e/f", c1, c2)

	_, err = h.commit(&pb.CommitRequest{Path: "/d/e/f", Chunks: storedAll(newChunk(t, 5))})
	wantKind(t, "create over existing", err, cairn.Exists)
	h.checkContent("/d/e/f", c1, c2)

	_, err = h.commit(&pb.CommitRequest{Path: "/nope/f", Chunks: storedAll(newChunk(t, 5))})
	wantKind(t, "create without parents", err, cairn.NotFound)

	// Overwrite: the old chunks go to the garbage table with their nodes.
	c3 := newChunk(t, 77)
	a, err = h.commit(&pb.CommitRequest{Path: "/d/e/f", Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: storedAll(c3), ModeBits: 0o600})
	h.mustOK(err)
	if a.Version != 2 || a.Mode != 0o600 || a.Replication != 3 {
		t.Errorf("overwritten attr = %v", a)
	}
	h.checkContent("/d/e/f", c3)
	g := h.garbage()
	if len(g) != 2 || g[c1.id] == nil || g[c2.id] == nil || !slices.Equal(g[c1.id].Nodes, []string{"n1"}) || g[c1.id].SinceNs != h.now {
		t.Errorf("garbage after overwrite = %v", g)
	}
	if _, ok := h.prefixed(tagLoc)[string(locKey(c1.id))]; ok {
		t.Error("location record of an overwritten chunk is still there")
	}

	// Append.
	c4, c5 := newChunk(t, 4096), newChunk(t, 1)
	a, err = h.commit(&pb.CommitRequest{Path: "/d/e/f", Mode: pb.CommitMode_COMMIT_APPEND, Chunks: storedAll(c4, c5), Xattrs: map[string]string{"user.k": "v"}})
	h.mustOK(err)
	if a.Version != 3 || a.Xattrs["user.k"] != "v" {
		t.Errorf("appended attr = %v", a)
	}
	h.checkContent("/d/e/f", c3, c4, c5)

	// Append creates a missing file; overwrite too.
	c6, c7 := newChunk(t, 12), newChunk(t, 13)
	_, err = h.commit(&pb.CommitRequest{Path: "/d/new-append", Mode: pb.CommitMode_COMMIT_APPEND, Chunks: storedAll(c6)})
	h.mustOK(err)
	h.checkContent("/d/new-append", c6)
	_, err = h.commit(&pb.CommitRequest{Path: "/d/new-over", Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: storedAll(c7)})
	h.mustOK(err)
	h.checkContent("/d/new-over", c7)

	// An empty file.
	a, err = h.commit(&pb.CommitRequest{Path: "/d/empty"})
	h.mustOK(err)
	if a.Size != 0 || a.Crc32C != 0 || a.Chunks != 0 {
		t.Errorf("empty file attr = %v", a)
	}

	_, err = h.commit(&pb.CommitRequest{Path: "/d/e", Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: storedAll(newChunk(t, 3))})
	wantKind(t, "commit to a directory", err, cairn.IsDir)
	_, err = h.commit(&pb.CommitRequest{Path: "/", Mode: pb.CommitMode_COMMIT_OVERWRITE})
	wantKind(t, "commit to /", err, cairn.Invalid)
	_, err = h.commit(&pb.CommitRequest{Path: "/d/e/f/g", Parents: true, Chunks: storedAll(newChunk(t, 3))})
	wantKind(t, "commit below a file", err, cairn.NotDir)
}

func TestCommitExpectVersion(t *testing.T) {
	h := newMachine(t)
	c1, c2, c3 := newChunk(t, 10), newChunk(t, 20), newChunk(t, 30)
	_, err := h.commit(&pb.CommitRequest{Path: "/f", Chunks: storedAll(c1)})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/f", Mode: pb.CommitMode_COMMIT_OVERWRITE, ExpectVersion: 7, Chunks: storedAll(c2)})
	wantKind(t, "stale version", err, cairn.Conflict)
	h.checkContent("/f", c1)
	if len(h.garbage()) != 0 {
		t.Error("a refused commit queued garbage")
	}
	_, err = h.commit(&pb.CommitRequest{Path: "/g", Mode: pb.CommitMode_COMMIT_OVERWRITE, ExpectVersion: 1, Chunks: storedAll(c2)})
	wantKind(t, "version of a missing file", err, cairn.Conflict)
	a, err := h.commit(&pb.CommitRequest{Path: "/f", Mode: pb.CommitMode_COMMIT_OVERWRITE, ExpectVersion: 1, Chunks: storedAll(c3)})
	if err != nil || a.Version != 2 {
		t.Fatalf("matching version: %v, %v", a, err)
	}
	h.checkContent("/f", c3)
}

func TestCommitRetryIsIdempotent(t *testing.T) {
	h := newMachine(t)
	c0 := newChunk(t, 50)
	_, err := h.commit(&pb.CommitRequest{Path: "/f", Chunks: storedAll(c0)})
	h.mustOK(err)
	c1, c2 := newChunk(t, 64), newChunk(t, 10)
	req := &pb.CommitRequest{Path: "/f", Mode: pb.CommitMode_COMMIT_APPEND, Chunks: storedAll(c1, c2)}
	first, err := h.commit(req)
	h.mustOK(err)
	// The same request again, as a new Raft entry (client retry).
	second, err := h.commit(proto.Clone(req).(*pb.CommitRequest))
	if err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if !proto.Equal(first, second) {
		t.Errorf("retry changed the attributes:\n first %v\nsecond %v", first, second)
	}
	h.checkContent("/f", c0, c1, c2)

	// A retried create of a new file is also harmless.
	c3 := newChunk(t, 5)
	create := &pb.CommitRequest{Path: "/g", Chunks: storedAll(c3)}
	a1, err := h.commit(create)
	h.mustOK(err)
	a2, err := h.commit(create)
	if err != nil || !proto.Equal(a1, a2) {
		t.Errorf("retried create: %v, %v (first %v)", a2, err, a1)
	}
	h.checkContent("/g", c3)
}

func TestCommitRejectsBadChunks(t *testing.T) {
	h := newMachine(t)
	owned := newChunk(t, 10)
	_, err := h.commit(&pb.CommitRequest{Path: "/owner", Chunks: storedAll(owned)})
	h.mustOK(err)
	fresh := newChunk(t, 10)
	zero := fresh.stored()
	zero.Chunk.Length = 0
	noNodes := newChunk(t, 10).stored()
	noNodes.Nodes = nil
	shortID := newChunk(t, 10).stored()
	shortID.Chunk.Id = shortID.Chunk.Id[:15]
	tests := map[string][]*pb.StoredChunk{
		"chunk of another file": {newChunk(t, 3).stored(), owned.stored()},
		"same chunk twice":      {fresh.stored(), fresh.stored()},
		"empty chunk":           {zero},
		"no nodes":              {noNodes},
		"15-byte id":            {shortID},
	}
	for name, chunks := range tests {
		for _, mode := range []pb.CommitMode{pb.CommitMode_COMMIT_CREATE, pb.CommitMode_COMMIT_APPEND} {
			_, err := h.commit(&pb.CommitRequest{Path: "/victim", Mode: mode, Chunks: chunks})
			wantKind(t, fmt.Sprintf("%s (%v)", name, mode), err, cairn.Invalid)
		}
	}
	if _, err := h.stat("/victim"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("refused commits created /victim: %v", err)
	}
	// The owner is untouched.
	h.checkContent("/owner", owned)
	// Overwriting the owner with a chunk used by another file is refused too.
	other := newChunk(t, 4)
	_, err = h.commit(&pb.CommitRequest{Path: "/other", Chunks: storedAll(other)})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/owner", Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: storedAll(other)})
	wantKind(t, "overwrite with a foreign chunk", err, cairn.Invalid)
	h.checkContent("/owner", owned)
	h.checkContent("/other", other)
}

// A command that fails must leave the namespace as it found it (tx.go). A
// commit with Parents whose chunks are refused must not create the parents.
func TestFailedCommitCreatesNoParents(t *testing.T) {
	h := newMachine(t)
	owned := newChunk(t, 10)
	_, err := h.commit(&pb.CommitRequest{Path: "/owner", Chunks: storedAll(owned)})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/new/dir/f", Parents: true, Chunks: storedAll(owned)})
	wantKind(t, "commit with a foreign chunk", err, cairn.Invalid)
	_, err = h.commit(&pb.CommitRequest{Path: "/new2/f", Parents: true, ExpectVersion: 3, Chunks: storedAll(newChunk(t, 1))})
	wantKind(t, "commit expecting a version of a missing file", err, cairn.Conflict)
	got := h.ls("/")
	if !slices.Equal(got, []string{"owner"}) {
		t.Fatalf("a failed commit with Parents leaves the parent directories it created: ls / = %q (tx.commit calls parentDir(parents=true) before checkNewChunks/ExpectVersion)", got)
	}
}

func TestRename(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/a/sub", true)
	h.mustOK(err)
	_, err = h.mkdir("/b", false)
	h.mustOK(err)
	cf := newChunk(t, 100)
	f, err := h.commit(&pb.CommitRequest{Path: "/a/f", Chunks: storedAll(cf)})
	h.mustOK(err)

	// File into another directory, new name.
	h.mustOK(h.rename("/a/f", "/b/g", false))
	if _, err := h.stat("/a/f"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("source still there: %v", err)
	}
	g := h.mustStat("/b/g")
	if g.Inode != f.Inode || g.Name != "g" || g.Parent != h.mustStat("/b").Inode || g.CtimeNs != h.now {
		t.Errorf("renamed attr = %v", g)
	}
	h.checkContent("/b/g", cf)
	if h.mustStat("/a").MtimeNs != h.now || h.mustStat("/b").MtimeNs != h.now {
		t.Error("rename did not touch both parents")
	}

	// Rename onto itself is a no-op.
	h.mustOK(h.rename("/b/g", "/b/g", false))
	h.checkContent("/b/g", cf)

	// A directory with contents.
	_, err = h.commit(&pb.CommitRequest{Path: "/a/sub/inner", Chunks: storedAll(newChunk(t, 3))})
	h.mustOK(err)
	h.mustOK(h.rename("/a", "/c", false))
	if got := h.ls("/"); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("ls / = %q", got)
	}
	h.mustStat("/c/sub/inner")

	// Over an existing file: the replaced file's chunks become garbage.
	cx, cy := newChunk(t, 7), newChunk(t, 8)
	_, err = h.commit(&pb.CommitRequest{Path: "/x", Chunks: storedAll(cx)})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/y", Chunks: storedAll(cy)})
	h.mustOK(err)
	wantKind(t, "no-replace over a file", h.rename("/x", "/y", true), cairn.Exists)
	h.mustOK(h.rename("/x", "/y", false))
	h.checkContent("/y", cx)
	if _, ok := h.garbage()[cy.id]; !ok || len(h.garbage()) != 1 {
		t.Errorf("garbage after rename over a file = %v, want only %s", h.garbage(), cy.id)
	}

	// Into itself or below itself.
	wantKind(t, "dir into itself", h.rename("/c", "/c/sub/c", false), cairn.Invalid)
	wantKind(t, "dir into its child", h.rename("/c", "/c/sub", false), cairn.Invalid)
	h.mustStat("/c/sub/inner")

	// Directory over a non-empty / empty directory, file over dir and back.
	_, err = h.mkdir("/empty", false)
	h.mustOK(err)
	wantKind(t, "dir over non-empty dir", h.rename("/empty", "/c", false), cairn.NotEmpty)
	wantKind(t, "file over dir", h.rename("/y", "/empty", false), cairn.IsDir)
	wantKind(t, "dir over file", h.rename("/empty", "/y", false), cairn.NotDir)
	h.mustOK(h.rename("/c", "/empty", false))
	h.mustStat("/empty/sub/inner")
	if got := h.ls("/"); !slices.Equal(got, []string{"b", "empty", "y"}) {
		t.Errorf("ls / = %q", got)
	}

	wantKind(t, "missing source", h.rename("/nope", "/z", false), cairn.NotFound)
	wantKind(t, "missing dest parent", h.rename("/y", "/no/such/z", false), cairn.NotFound)
	wantKind(t, "dest parent is a file", h.rename("/b/g", "/y/z", false), cairn.NotDir)
	wantKind(t, "rename root", h.rename("/", "/r", false), cairn.Invalid)
	wantKind(t, "replace root", h.rename("/y", "/", false), cairn.Invalid)
	wantKind(t, "bad path", h.rename("/y", "rel", false), cairn.Invalid)
	h.checkContent("/y", cx)
}

func TestRemove(t *testing.T) {
	h := newMachine(t)
	f1, f2, f3 := newChunk(t, 10), newChunk(t, 20), newChunk(t, 30)
	_, err := h.commit(&pb.CommitRequest{Path: "/top/f1", Parents: true, Chunks: storedAll(f1)})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/top/a/b/f2", Parents: true, Chunks: storedAll(f2, f3)})
	h.mustOK(err)
	_, err = h.mkdir("/top/a/emptydir", false)
	h.mustOK(err)
	lone := newChunk(t, 5)
	_, err = h.commit(&pb.CommitRequest{Path: "/lone", Chunks: []*pb.StoredChunk{lone.stored("n1", "n2")}})
	h.mustOK(err)

	resp, err := h.remove("/lone", false)
	h.mustOK(err)
	if resp.Files != 1 || resp.Dirs != 0 {
		t.Errorf("remove file: %v", resp)
	}
	if rec := h.garbage()[lone.id]; rec == nil || !slices.Equal(rec.Nodes, []string{"n1", "n2"}) {
		t.Errorf("garbage after removing a file = %v", h.garbage())
	}

	_, err = h.remove("/top", false)
	wantKind(t, "remove non-empty dir", err, cairn.NotEmpty)
	h.mustStat("/top/a/b/f2")

	resp, err = h.remove("/top", true)
	h.mustOK(err)
	if resp.Files != 2 || resp.Dirs != 4 { // top, a, b, emptydir
		t.Errorf("recursive remove counts = %v, want 2 files, 4 dirs", resp)
	}
	if got := h.ls("/"); len(got) != 0 {
		t.Errorf("ls / = %q", got)
	}
	g := h.garbage()
	for _, c := range []testChunk{f1, f2, f3, lone} {
		if g[c.id] == nil {
			t.Errorf("chunk %s not in garbage", c.id)
		}
	}
	if len(g) != 4 {
		t.Errorf("garbage has %d chunks, want 4", len(g))
	}
	// Nothing of the tree is left: no inodes but none (root not stored or
	// root only), no dirents, no chunk refs, no locations.
	for _, tag := range []byte{tagDirent, tagChunk, tagLoc} {
		if n := len(h.prefixed(tag)); n != 0 {
			t.Errorf("%d keys left with tag %q", n, tag)
		}
	}
	for k := range h.prefixed(tagInode) {
		if k != string(inodeKey(cairn.RootInode)) {
			t.Errorf("inode key %x left", k)
		}
	}

	_, err = h.mkdir("/e", false)
	h.mustOK(err)
	resp, err = h.remove("/e", false)
	if err != nil || resp.Dirs != 1 {
		t.Errorf("remove empty dir: %v, %v", resp, err)
	}
	_, err = h.remove("/e", false)
	wantKind(t, "remove missing", err, cairn.NotFound)
	_, err = h.remove("/", true)
	wantKind(t, "remove root", err, cairn.Invalid)
	_, err = h.remove("", true)
	wantKind(t, "remove empty path", err, cairn.Invalid)
}

func TestSetAttr(t *testing.T) {
	h := newMachine(t)
	_, err := h.commit(&pb.CommitRequest{Path: "/f", Chunks: storedAll(newChunk(t, 4)), Xattrs: map[string]string{"keep": "1", "drop": "2"}})
	h.mustOK(err)
	before := h.mustStat("/f")
	mode, uid, gid, mtime := uint32(0o100640), uint32(1000), uint32(100), int64(42)
	r := h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{
		Path: "/f", Mode: &mode, Uid: &uid, Gid: &gid, MtimeNs: &mtime,
		SetXattrs: map[string]string{"new": "3", "keep": "1b"}, RemoveXattrs: []string{"drop", "absent"},
	}}})
	a, err := attrOf(h, r)
	h.mustOK(err)
	if a.Mode != 0o640 || a.Uid != 1000 || a.Gid != 100 || a.MtimeNs != 42 || a.CtimeNs != h.now {
		t.Errorf("setattr result = %v", a)
	}
	want := map[string]string{"keep": "1b", "new": "3"}
	stored := h.mustStat("/f")
	if !proto.Equal(stored, a) {
		t.Errorf("stored %v, returned %v", stored, a)
	}
	if len(stored.Xattrs) != len(want) || stored.Xattrs["keep"] != "1b" || stored.Xattrs["new"] != "3" {
		t.Errorf("xattrs = %v, want %v", stored.Xattrs, want)
	}
	if stored.Size != before.Size || stored.Version != before.Version || stored.Crc32C != before.Crc32C {
		t.Error("setattr changed the content fields")
	}

	// Only the given fields change.
	uid2 := uint32(7)
	a, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{Path: "/f", Uid: &uid2}}}))
	h.mustOK(err)
	if a.Uid != 7 || a.Gid != 100 || a.Mode != 0o640 || a.MtimeNs != 42 || len(a.Xattrs) != 2 {
		t.Errorf("partial setattr = %v", a)
	}

	// Xattrs on a directory without any before, and on the root.
	_, err = h.mkdir("/d", false)
	h.mustOK(err)
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{Path: "/d", SetXattrs: map[string]string{"k": "v"}}}}))
	h.mustOK(err)
	if h.mustStat("/d").Xattrs["k"] != "v" {
		t.Error("directory xattr not stored")
	}
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{Path: "/", Mode: &mode}}}))
	h.mustOK(err)
	if h.mustStat("/").Mode != 0o640 {
		t.Error("root mode not stored")
	}
	h.mustStat("/d") // the root record still leads to its entries

	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{Path: "/missing", Uid: &uid}}}))
	wantKind(t, "setattr missing", err, cairn.NotFound)
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_SetAttr{SetAttr: &pb.SetAttrRequest{Path: "/f/x", Uid: &uid}}}))
	wantKind(t, "setattr below a file", err, cairn.NotDir)
}

func (h *fsmHarness) createUpload(id, path string, chunkSize int64, mode pb.CommitMode) error {
	h.t.Helper()
	return h.apply(&pb.Command{UploadId: id, Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: path, ChunkSize: chunkSize, Mode: mode}}}).Err
}

// addParts adds chunks at the given chunk indexes of a session.
func (h *fsmHarness) addParts(id string, chunkSize int64, idx []int, cs ...testChunk) error {
	h.t.Helper()
	var scs []*pb.StoredChunk
	for i, c := range cs {
		sc := c.stored()
		sc.Chunk.Offset = int64(idx[i]) * chunkSize
		scs = append(scs, sc)
	}
	return h.apply(&pb.Command{Op: &pb.Command_AddUploadChunks{AddUploadChunks: &pb.AddUploadChunksRequest{Id: id, Chunks: scs}}}).Err
}

func (h *fsmHarness) completeUpload(id string, count uint64, parents bool) (*pb.Attr, error) {
	h.t.Helper()
	return attrOf(h, h.apply(&pb.Command{Op: &pb.Command_CompleteUpload{CompleteUpload: &pb.CompleteUploadRequest{Id: id, ChunkCount: count, Parents: parents}}}))
}

func TestUploadSession(t *testing.T) {
	h := newMachine(t)
	const cs = 64
	c0, c1, c2 := newChunk(t, cs), newChunk(t, cs), newChunk(t, 17)
	h.mustOK(h.createUpload("u1", "/up//dir/file", cs, pb.CommitMode_COMMIT_CREATE))
	s, err := getUpload(h.f.db, "u1")
	h.mustOK(err)
	if s.Path != "/up/dir/file" || s.ChunkSize != cs {
		t.Errorf("session = %v", s)
	}

	// Out of order.
	h.mustOK(h.addParts("u1", cs, []int{2}, c2))
	h.mustOK(h.addParts("u1", cs, []int{0}, c0))
	_, err = h.completeUpload("u1", 3, true)
	wantKind(t, "complete with chunk 1 missing", err, cairn.Invalid)
	if _, err := h.stat("/up"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("refused completion created /up: %v", err)
	}

	// Replacing a landed chunk with another sends the first to garbage.
	stale := newChunk(t, cs)
	h.mustOK(h.addParts("u1", cs, []int{1}, stale))
	h.mustOK(h.addParts("u1", cs, []int{1}, c1))
	if g := h.garbage(); len(g) != 1 || g[stale.id] == nil {
		t.Errorf("garbage after replacing a part = %v", g)
	}
	// Re-adding the same chunk is not garbage.
	h.mustOK(h.addParts("u1", cs, []int{1}, c1))
	if len(h.garbage()) != 1 {
		t.Errorf("re-adding the same part made garbage: %v", h.garbage())
	}
	s, err = getUpload(h.f.db, "u1")
	h.mustOK(err)
	if len(s.Landed) != 3 {
		t.Errorf("landed = %d, want 3", len(s.Landed))
	}

	// Malformed parts are refused as a whole.
	bad := newChunk(t, cs).stored()
	bad.Chunk.Offset = 5
	good := newChunk(t, cs).stored()
	good.Chunk.Offset = 4 * cs
	err = h.apply(&pb.Command{Op: &pb.Command_AddUploadChunks{AddUploadChunks: &pb.AddUploadChunksRequest{Id: "u1", Chunks: []*pb.StoredChunk{good, bad}}}}).Err
	wantKind(t, "misaligned part", err, cairn.Invalid)
	wantKind(t, "part longer than chunk size", h.addParts("u1", cs, []int{5}, newChunk(t, cs+1)), cairn.Invalid)
	wantKind(t, "add to missing session", h.addParts("nope", cs, []int{0}, newChunk(t, 1)), cairn.NotFound)
	s, _ = getUpload(h.f.db, "u1")
	if len(s.Landed) != 3 {
		t.Errorf("refused parts landed: %d parts", len(s.Landed))
	}

	// Complete: an extra part past the count becomes garbage.
	extra := newChunk(t, cs)
	h.mustOK(h.addParts("u1", cs, []int{3}, extra))
	a, err := h.completeUpload("u1", 3, true)
	h.mustOK(err)
	if a.Size != 2*cs+17 || a.ChunkSize != cs {
		t.Errorf("completed attr = %v", a)
	}
	h.checkContent("/up/dir/file", c0, c1, c2)
	if g := h.garbage(); g[extra.id] == nil || g[c0.id] != nil {
		t.Errorf("garbage after completion = %v", g)
	}
	if s, err := getUpload(h.f.db, "u1"); err != nil || s.CompletedInode != a.Inode || len(s.Landed) != 0 {
		t.Errorf("completed session record = %v, %v; want only a completion marker", s, err)
	}
	if n := len(h.prefixed(tagPart)); n != 0 {
		t.Errorf("%d part keys left", n)
	}
	// A retried completion (its reply was lost) answers with the file.
	again, err := h.completeUpload("u1", 3, true)
	h.mustOK(err)
	if again.Inode != a.Inode || again.Size != a.Size || again.Version != a.Version {
		t.Errorf("repeated completion = %v, want %v", again, a)
	}
	wantKind(t, "add to a completed session", h.addParts("u1", cs, []int{0}, newChunk(t, cs)), cairn.Invalid)
	if list, _ := listUploads(h.f.db, ""); len(list) != 0 {
		t.Errorf("completed sessions are listed as open: %v", list)
	}
}

func TestUploadShortMiddleChunk(t *testing.T) {
	h := newMachine(t)
	h.mustOK(h.createUpload("u", "/f", 8, pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.addParts("u", 8, []int{0, 1}, newChunk(t, 3), newChunk(t, 8)))
	_, err := h.completeUpload("u", 2, false)
	wantKind(t, "short chunk before the last", err, cairn.Invalid)

	wantKind(t, "zero chunk size", h.createUpload("z", "/f", 0, pb.CommitMode_COMMIT_CREATE), cairn.Invalid)
	wantKind(t, "missing id", h.createUpload("", "/f", 8, pb.CommitMode_COMMIT_CREATE), cairn.Invalid)
	wantKind(t, "bad path", h.createUpload("b", "f", 8, pb.CommitMode_COMMIT_CREATE), cairn.Invalid)
}

func TestUploadAbort(t *testing.T) {
	h := newMachine(t)
	p0, p1 := newChunk(t, 16), newChunk(t, 16)
	h.mustOK(h.createUpload("ab", "/f", 16, pb.CommitMode_COMMIT_OVERWRITE))
	h.mustOK(h.addParts("ab", 16, []int{1, 0}, p1, p0))
	h.mustOK(h.apply(&pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: &pb.AbortUploadRequest{Id: "ab"}}}).Err)
	g := h.garbage()
	if len(g) != 2 || g[p0.id] == nil || g[p1.id] == nil {
		t.Errorf("garbage after abort = %v", g)
	}
	if _, err := getUpload(h.f.db, "ab"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("session after abort: %v", err)
	}
	if _, err := h.stat("/f"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("abort created the file: %v", err)
	}
	err := h.apply(&pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: &pb.AbortUploadRequest{Id: "ab"}}}).Err
	wantKind(t, "abort twice", err, cairn.NotFound)
	list, err := listUploads(h.f.db, "")
	if err != nil || len(list) != 0 {
		t.Errorf("listUploads = %v, %v", list, err)
	}
}

func TestListUploads(t *testing.T) {
	h := newMachine(t)
	h.mustOK(h.createUpload("a", "/x", 8, pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.createUpload("b", "/y", 8, pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.createUpload("c", "/x", 8, pb.CommitMode_COMMIT_CREATE))
	all, err := listUploads(h.f.db, "")
	h.mustOK(err)
	x, err := listUploads(h.f.db, "/x")
	h.mustOK(err)
	if len(all) != 3 || len(x) != 2 || x[0].Id != "a" || x[1].Id != "c" {
		t.Errorf("listUploads: all %d, /x %v", len(all), x)
	}
}

func mkdirCmd(path string) *pb.Command {
	return &pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: path}}}
}

func TestApplySkipsAppliedEntries(t *testing.T) {
	h := newMachine(t)
	c := newChunk(t, 9)
	entries := []entry{
		h.entry(mkdirCmd("/a")),
		h.entry(&pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: "/a/f", Chunks: storedAll(c)}}}),
		h.entry(mkdirCmd("/a")), // fails: exists
		{index: h.idx + 1},      // no command: only the index advances
	}
	h.idx++
	var out []Result
	for i, e := range entries {
		r, ok := h.f.Apply(e.index, e.cmd)
		if !ok {
			t.Fatalf("entry %d skipped", i)
		}
		out = append(out, r)
	}
	for i := range 2 {
		if out[i].Err != nil {
			t.Errorf("result %d = %v", i, out[i])
		}
	}
	if !errors.Is(out[2].Err, cairn.Exists) {
		t.Errorf("result 2 = %v, want Exists", out[2])
	}
	if out[3].Resp != nil || out[3].Err != nil {
		t.Errorf("entry without a command gave %v", out[3])
	}
	if got := h.f.AppliedIndex(); got != 4 {
		t.Errorf("AppliedIndex = %d, want 4", got)
	}
	h.checkContent("/a/f", c)
	before := h.mustStat("/a")

	// The same entries again (replayed after a restart): no effect at all.
	for i, e := range entries {
		if r, ok := h.f.Apply(e.index, e.cmd); ok {
			t.Errorf("replayed entry %d applied again: %v", i, r)
		}
	}
	if got := h.mustStat("/a"); !proto.Equal(got, before) {
		t.Errorf("replay changed /a: %v", got)
	}
	h.checkContent("/a/f", c)

	// After the replayed ones, a new entry applies.
	c2 := newChunk(t, 3)
	e := h.entry(&pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: "/a/f", Mode: pb.CommitMode_COMMIT_APPEND, Chunks: storedAll(c2)}}})
	if r, ok := h.f.Apply(e.index, e.cmd); !ok || r.Err != nil {
		t.Errorf("new entry after a replay: %v, applied %v", r, ok)
	}
	h.checkContent("/a/f", c, c2)
	if h.f.AppliedIndex() != h.idx {
		t.Errorf("AppliedIndex = %d, want %d", h.f.AppliedIndex(), h.idx)
	}
}

func TestApplyEmptyCommand(t *testing.T) {
	h := newMachine(t)
	// A command with no op is refused, not applied; the index advances.
	r := h.apply(&pb.Command{})
	if !errors.Is(r.Err, cairn.Internal) {
		t.Errorf("empty command: %v", r)
	}
	if h.f.AppliedIndex() != h.idx {
		t.Errorf("AppliedIndex %d, want %d", h.f.AppliedIndex(), h.idx)
	}
}

func TestAppliedIndexSurvivesReopen(t *testing.T) {
	h := newMachine(t)
	if h.f.AppliedIndex() != 0 {
		t.Fatalf("fresh state applied index %d", h.f.AppliedIndex())
	}
	c := newChunk(t, 11)
	_, err := h.mkdir("/d", false)
	h.mustOK(err)
	old := h.entry(&pb.Command{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: "/d/f", Mode: pb.CommitMode_COMMIT_APPEND, Chunks: storedAll(c)}}})
	h.f.Apply(old.index, old.cmd)
	want := h.f.AppliedIndex()
	if want != 2 {
		t.Fatalf("applied index %d, want 2", want)
	}
	h.reopen()
	if got := h.f.AppliedIndex(); got != want {
		t.Errorf("after reopen AppliedIndex = %d, want %d", got, want)
	}
	h.checkContent("/d/f", c)
	// The log replays the entry after the restart: skipped.
	if r, ok := h.f.Apply(old.index, old.cmd); ok {
		t.Errorf("replayed entry after reopen applied: %v", r)
	}
	h.checkContent("/d/f", c)
	// New inodes do not collide with old ones after the reopen.
	a, err := h.mkdir("/e", false)
	h.mustOK(err)
	if a.Inode == h.mustStat("/d").Inode || a.Inode == h.mustStat("/d/f").Inode {
		t.Errorf("inode %d reused after reopen", a.Inode)
	}
}

// snapshotBytes takes a snapshot of h and streams it.
func (h *fsmHarness) snapshotBytes() []byte {
	h.t.Helper()
	snap, err := h.f.Snapshot()
	h.mustOK(err)
	defer snap.Release()
	var buf bytes.Buffer
	n, err := snap.WriteTo(&buf)
	h.mustOK(err)
	if n != int64(buf.Len()) || n == 0 {
		h.t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

// dump describes the whole namespace: every path with its attributes and
// chunk list, plus the garbage table and sessions.
func (h *fsmHarness) dump() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	var walk func(path string, a *pb.Attr)
	walk = func(path string, a *pb.Attr) {
		out[path] = prototext(a)
		if !a.Dir {
			for _, c := range h.chunks(path) {
				out[path] += " | " + prototext(c)
			}
			return
		}
		var names []string
		h.mustOK(listDir(h.f.db, cairn.InodeID(a.Inode), "", func(name string, _ *pb.Dirent) (bool, error) {
			names = append(names, name)
			return true, nil
		}))
		for _, n := range names {
			p := path + "/" + n
			if path == "/" {
				p = "/" + n
			}
			walk(p, h.mustStat(p))
		}
	}
	walk("/", h.mustStat("/"))
	for id, g := range h.garbage() {
		out["garbage "+id.String()] = prototext(g)
	}
	ups, err := listUploads(h.f.db, "")
	h.mustOK(err)
	for _, u := range ups {
		s, err := getUpload(h.f.db, u.Id)
		h.mustOK(err)
		out["upload "+u.Id] = prototext(s)
	}
	return out
}

func prototext(m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x", b)
}

func buildNamespace(t *testing.T, h *fsmHarness) {
	t.Helper()
	_, err := h.mkdir("/a/b/c", true)
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/a/f", Chunks: storedAll(newChunk(t, 100), newChunk(t, 50)), Xattrs: map[string]string{"k": "v"}})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/a/b/g", Chunks: storedAll(newChunk(t, 10))})
	h.mustOK(err)
	_, err = h.commit(&pb.CommitRequest{Path: "/a/b/g", Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: storedAll(newChunk(t, 20))})
	h.mustOK(err)
	h.mustOK(h.rename("/a/b/c", "/top", false))
	h.mustOK(h.createUpload("open", "/a/big", 32, pb.CommitMode_COMMIT_CREATE))
	h.mustOK(h.addParts("open", 32, []int{0}, newChunk(t, 32)))
	h.mustOK(h.apply(&pb.Command{Op: &pb.Command_RegisterNode{RegisterNode: &pb.RegisterNodeRequest{Id: "n1", Addr: "h:1", Capacity: 5}}}).Err)
}

func TestSnapshotRestore(t *testing.T) {
	src := newMachine(t)
	buildNamespace(t, src)
	want := src.dump()
	if len(want) < 8 {
		t.Fatalf("namespace too small to be a test: %d entries", len(want))
	}

	snap, err := src.f.Snapshot()
	h := src
	h.mustOK(err)
	// Changes after the snapshot was taken are not in it.
	_, err = src.mkdir("/after", false)
	h.mustOK(err)
	var buf bytes.Buffer
	_, err = snap.WriteTo(&buf)
	h.mustOK(err)
	snap.Release()
	data := buf.Bytes()

	// Restore into a fresh state machine and into one with other content.
	dst := newMachine(t)
	_, err = dst.mkdir("/junk/dir", true)
	h.mustOK(err)
	dst.apply(mkdirCmd("/junk2"))
	h.mustOK(dst.f.Restore(bytes.NewReader(data)))
	got := dst.dump()
	if len(got) != len(want) {
		t.Errorf("restored %d entries, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("restored %s differs", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("restored state has extra %s", k)
		}
	}
	if dst.f.AppliedIndex() != src.idx-1 {
		t.Errorf("restored AppliedIndex = %d, want %d", dst.f.AppliedIndex(), src.idx-1)
	}
	// The restored state machine keeps working: new inodes do not collide.
	dst.idx = dst.f.AppliedIndex()
	a, err := dst.mkdir("/new", false)
	h.mustOK(err)
	for path := range want {
		if len(path) > 0 && path[0] == '/' {
			if other := dst.mustStat(path); other.Inode == a.Inode && path != "/new" {
				t.Errorf("new inode %d collides with %s", a.Inode, path)
			}
		}
	}
	// And it survives a reopen.
	dst.reopen()
	if dst.f.AppliedIndex() != dst.idx {
		t.Errorf("AppliedIndex after reopen %d, want %d", dst.f.AppliedIndex(), dst.idx)
	}
	dst.mustStat("/a/b/g")
}

func TestRestoreTruncatedSnapshot(t *testing.T) {
	src := newMachine(t)
	buildNamespace(t, src)
	data := src.snapshotBytes()
	for _, cut := range []int{len(data) - 1, len(data) / 2, 1} {
		dst := newMachine(t)
		err := dst.f.Restore(bytes.NewReader(data[:cut]))
		wantKind(t, fmt.Sprintf("snapshot cut to %d of %d bytes", cut, len(data)), err, cairn.Corrupt)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want []byte }{
		{[]byte{'a'}, []byte{'b'}},
		{[]byte{'a', 0xff}, []byte{'b'}},
		{[]byte{'a', 1, 0xff, 0xff}, []byte{'a', 2}},
		{[]byte{0xff, 0xff}, nil},
	}
	for _, tt := range tests {
		if got := prefixEnd(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("prefixEnd(%x) = %x, want %x", tt.in, got, tt.want)
		}
	}
	// prefixEnd must not modify its argument.
	p := []byte{'x', 0xff}
	prefixEnd(p)
	if !bytes.Equal(p, []byte{'x', 0xff}) {
		t.Errorf("prefixEnd modified its argument: %x", p)
	}
}
