package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

func (h *fsmHarness) setQuota(path string, bytes, files int64) (*pb.Attr, error) {
	h.t.Helper()
	return attrOf(h, h.apply(&pb.Command{Op: &pb.Command_SetQuota{SetQuota: &pb.SetQuotaRequest{Path: path, Bytes: bytes, Files: files}}}))
}

// put commits a new file (or overwrites one) of n random bytes.
func (h *fsmHarness) put(path string, n int) error {
	h.t.Helper()
	_, err := h.commit(&pb.CommitRequest{Path: path, Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: storedAll(newChunk(h.t, n))})
	return err
}

// quotaOf reads a directory's quota through a View, as Stat answers it.
func (h *fsmHarness) quotaOf(path string) (used usage, limits usage) {
	h.t.Helper()
	a, err := h.f.Latest().Stat(path)
	h.mustOK(err)
	return usage{a.UsedBytes, a.UsedFiles}, usage{a.QuotaBytes, a.QuotaFiles}
}

func (h *fsmHarness) wantUsage(path string, bytes, files int64) {
	h.t.Helper()
	if got, _ := h.quotaOf(path); got != (usage{bytes, files}) {
		h.t.Errorf("usage of %s = %+v, want {bytes:%d files:%d}", path, got, bytes, files)
	}
}

// walkUsage counts what lies below directory ino by walking every entry,
// without the shortcut of nested quota records.
func (h *fsmHarness) walkUsage(ino cairn.InodeID) usage {
	h.t.Helper()
	var u usage
	h.mustOK(listDir(h.f.db, ino, "", func(_ string, de *pb.Dirent) (bool, error) {
		a, err := getAttr(h.f.db, cairn.InodeID(de.Inode))
		if err != nil {
			return false, err
		}
		u.files++
		if a.Dir {
			below := h.walkUsage(cairn.InodeID(a.Inode))
			u.bytes += below.bytes
			u.files += below.files
		} else {
			u.bytes += a.Size
		}
		return true, nil
	}))
	return u
}

// checkQuotas verifies the invariant the counters keep: every quota
// record's usage is what a full walk finds, every record belongs to a
// live directory, and the quota count matches the records.
func (h *fsmHarness) checkQuotas() {
	h.t.Helper()
	recs := h.prefixed(tagQuota)
	for k, v := range recs {
		ino := cairn.InodeID(binary.BigEndian.Uint64([]byte(k[1:])))
		rec := &pb.QuotaRecord{}
		h.mustOK(proto.Unmarshal(v, rec))
		a, err := getAttr(h.f.db, ino)
		if ino == cairn.RootInode && cairn.KindOf(err) == cairn.NotFound {
			a, err = rootAttr(), nil
		}
		if err != nil || !a.Dir {
			h.t.Errorf("quota record for inode %d, which is not a live directory (%v)", ino, err)
			continue
		}
		if got, want := (usage{rec.UsedBytes, rec.UsedFiles}), h.walkUsage(ino); got != want {
			h.t.Errorf("quota of %s counts %+v, a walk finds %+v", pathOf(h.f.db, ino), got, want)
		}
	}
	n, err := getUint64(h.f.db, []byte(keyQuotas))
	h.mustOK(err)
	if n != uint64(len(recs)) {
		h.t.Errorf("quota count %d, %d records", n, len(recs))
	}
}

func wantQuotaError(t *testing.T, what string, err error, dir string) {
	t.Helper()
	wantKind(t, what, err, cairn.QuotaExceeded)
	if err != nil && !strings.Contains(err.Error(), "quota of "+dir+" ") {
		t.Errorf("%s: %q does not name the directory %s", what, err, dir)
	}
}

func TestQuotaBytesAtCommit(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/q", false)
	h.mustOK(err)
	h.mustOK(h.put("/q/before", 10))
	a, err := h.setQuota("/q", 100, 0)
	h.mustOK(err)
	if a.QuotaBytes != 100 || a.UsedBytes != 10 || a.UsedFiles != 1 {
		t.Fatalf("SetQuota answered %v", a)
	}
	h.mustOK(h.put("/q/f", 60))
	h.wantUsage("/q", 70, 2)
	wantQuotaError(t, "a new file past the limit", h.put("/q/g", 31), "/q")
	if _, err := h.stat("/q/g"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("a refused commit left the file behind: %v", err)
	}
	h.mustOK(h.put("/q/f", 90)) // overwrite: +30
	h.wantUsage("/q", 100, 2)
	_, err = h.commit(&pb.CommitRequest{Path: "/q/f", Mode: pb.CommitMode_COMMIT_APPEND, Chunks: storedAll(newChunk(t, 1))})
	wantQuotaError(t, "an append past the limit", err, "/q")
	h.mustOK(h.put("/q/f", 5)) // shrinking always fits
	h.wantUsage("/q", 15, 2)
	h.mustOK(h.put("/elsewhere", 1000)) // outside the quota
	h.wantUsage("/q", 15, 2)
	h.checkQuotas()

	// A limit below the usage is accepted; growth is refused, shrinking is not.
	_, err = h.setQuota("/q", 12, 0)
	h.mustOK(err)
	wantQuotaError(t, "growth over a lowered limit", h.put("/q/one", 1), "/q")
	_, err = h.remove("/q/before", false)
	h.mustOK(err)
	h.wantUsage("/q", 5, 1)
	h.checkQuotas()
}

func TestQuotaRemoveFrees(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/q/d/e", true)
	h.mustOK(err)
	h.mustOK(h.put("/q/d/e/f", 40))
	h.mustOK(h.put("/q/d/g", 40))
	_, err = h.setQuota("/q", 100, 0)
	h.mustOK(err)
	h.wantUsage("/q", 80, 4)
	wantQuotaError(t, "full", h.put("/q/h", 30), "/q")
	_, err = h.remove("/q/d", true)
	h.mustOK(err)
	h.wantUsage("/q", 0, 0)
	h.mustOK(h.put("/q/h", 100))
	h.checkQuotas()
}

func TestQuotaFileCount(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/q", false)
	h.mustOK(err)
	_, err = h.setQuota("/q", 0, 3)
	h.mustOK(err)
	_, err = h.mkdir("/q/a", false)
	h.mustOK(err)
	h.mustOK(h.put("/q/a/f", 1))
	h.mustOK(h.put("/q/g", 1))
	h.wantUsage("/q", 2, 3)
	h.mustOK(h.put("/q/g", 7)) // overwriting adds no entry
	_, err = h.mkdir("/q/b", false)
	wantQuotaError(t, "mkdir past the entry limit", err, "/q")
	wantQuotaError(t, "create past the entry limit", h.put("/q/h", 1), "/q")
	_, err = h.commit(&pb.CommitRequest{Path: "/q/x/y/z", Parents: true, Chunks: storedAll(newChunk(t, 1))})
	wantQuotaError(t, "create with parents past the entry limit", err, "/q")
	if _, err := h.stat("/q/x"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("a refused commit left its parents behind: %v", err)
	}
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_WrapInDir{WrapInDir: &pb.WrapInDirRequest{Path: "/q/g", Name: "inner"}}}))
	wantQuotaError(t, "wrap-in-dir past the entry limit", err, "/q")
	h.checkQuotas()
}

func TestQuotaNested(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/a/b", true)
	h.mustOK(err)
	_, err = h.setQuota("/a/b", 100, 0)
	h.mustOK(err)
	_, err = h.setQuota("/a", 1000, 0)
	h.mustOK(err)
	wantQuotaError(t, "past the inner quota", h.put("/a/b/f", 150), "/a/b")
	h.mustOK(h.put("/a/f", 950))
	wantQuotaError(t, "inside the inner quota, past the outer", h.put("/a/b/g", 90), "/a")
	h.mustOK(h.put("/a/b/g", 50))
	h.wantUsage("/a", 1000, 3)
	h.wantUsage("/a/b", 50, 1)
	h.checkQuotas()

	// Removing a directory with a quota forgets it; the outer one frees.
	_, err = h.remove("/a/b", true)
	h.mustOK(err)
	h.wantUsage("/a", 950, 1)
	h.checkQuotas()
	if n := len(h.prefixed(tagQuota)); n != 1 {
		t.Errorf("%d quota records after removing /a/b, want 1", n)
	}

	// Clearing the last quota leaves none, and the commit path reads none.
	_, err = h.setQuota("/a", 0, 0)
	h.mustOK(err)
	if _, limits := h.quotaOf("/a"); limits != (usage{}) {
		t.Errorf("cleared quota still answers limits %+v", limits)
	}
	h.checkQuotas()
	h.mustOK(h.put("/a/huge", 5000))
}

func TestQuotaRenameBetweenTrees(t *testing.T) {
	h := newMachine(t)
	for _, d := range []string{"/q1/d", "/q2", "/free"} {
		_, err := h.mkdir(d, true)
		h.mustOK(err)
	}
	h.mustOK(h.put("/q1/f", 60))
	h.mustOK(h.put("/q1/g", 50))
	h.mustOK(h.put("/q1/d/h", 10))
	_, err := h.setQuota("/q1", 200, 0)
	h.mustOK(err)
	_, err = h.setQuota("/q2", 100, 5)
	h.mustOK(err)

	h.mustOK(h.rename("/q1/f", "/q2/f", false))
	h.wantUsage("/q1", 60, 3)
	h.wantUsage("/q2", 60, 1)
	wantQuotaError(t, "rename into a full quota", h.rename("/q1/g", "/q2/g", false), "/q2")
	h.wantUsage("/q1", 60, 3)
	// Replacing a file counts only the difference.
	h.mustOK(h.put("/q2/small", 10))
	h.mustOK(h.rename("/q1/g", "/q2/f", false)) // 50 replaces 60
	h.wantUsage("/q2", 60, 2)
	h.wantUsage("/q1", 10, 2)
	// A directory moves with everything below it.
	h.mustOK(h.rename("/q1/d", "/q2/d", false))
	h.wantUsage("/q1", 0, 0)
	h.wantUsage("/q2", 70, 4)
	// Out of every quota, and within one quota.
	h.mustOK(h.rename("/q2/d", "/free/d", false))
	h.wantUsage("/q2", 60, 2)
	h.mustOK(h.rename("/q2/small", "/q2/renamed", false))
	h.wantUsage("/q2", 60, 2)
	// A directory with its own quota moves as one record.
	_, err = h.setQuota("/free/d", 1000, 0)
	h.mustOK(err)
	h.mustOK(h.rename("/free/d", "/q1/d", false))
	h.wantUsage("/q1", 10, 2)
	h.wantUsage("/q1/d", 10, 1)
	h.checkQuotas()
}

func TestQuotaMultipart(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/b", false)
	h.mustOK(err)
	_, err = h.setQuota("/b", 100, 0)
	h.mustOK(err)
	h.mustOK(h.apply(&pb.Command{UploadId: "m1", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/b/obj", Multipart: true}}}).Err)
	wantQuotaError(t, "a part larger than the quota", h.putPart("m1", 1, "x", newChunk(t, 101)), "/b")
	h.mustOK(h.putPart("m1", 1, "a", newChunk(t, 60)))
	h.mustOK(h.putPart("m1", 2, "b", newChunk(t, 60)))
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", Parts: []*pb.CompletePart{{Number: 1}, {Number: 2}}})
	wantQuotaError(t, "completing past the quota", err, "/b")
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", Parts: []*pb.CompletePart{{Number: 1}}})
	h.mustOK(err)
	h.wantUsage("/b", 60, 1)

	// Replacing the object credits its size: a 90-byte part fits.
	h.mustOK(h.apply(&pb.Command{UploadId: "m2", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/b/obj", Multipart: true}}}).Err)
	h.mustOK(h.putPart("m2", 1, "c", newChunk(t, 90)))

	// A resumable upload that announces its size is refused at once.
	err = h.apply(&pb.Command{UploadId: "u1", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/b/new", ChunkSize: 64, Size: 41}}}).Err
	wantQuotaError(t, "an announced upload past the quota", err, "/b")
	err = h.apply(&pb.Command{UploadId: "u2", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/b/obj", ChunkSize: 64, Size: 41,
		Mode: pb.CommitMode_COMMIT_APPEND}}}).Err
	wantQuotaError(t, "an announced append past the quota", err, "/b")
	h.mustOK(h.apply(&pb.Command{UploadId: "u3", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/b/obj", ChunkSize: 64, Size: 100,
		Mode: pb.CommitMode_COMMIT_OVERWRITE}}}).Err)
	h.checkQuotas()
}

func TestQuotaSetRefusals(t *testing.T) {
	h := newMachine(t)
	h.mustOK(h.put("/f", 1))
	_, err := h.setQuota("/f", 10, 0)
	wantKind(t, "quota on a file", err, cairn.NotDir)
	_, err = h.setQuota("/nope", 10, 0)
	wantKind(t, "quota on a missing path", err, cairn.NotFound)
	_, err = h.setQuota("/", -1, 0)
	wantKind(t, "negative limit", err, cairn.Invalid)
	// The root can have a quota too.
	_, err = h.setQuota("/", 0, 2)
	h.mustOK(err)
	h.wantUsage("/", 1, 1)
	h.mustOK(h.put("/g", 1))
	wantQuotaError(t, "past the root's quota", h.put("/h", 1), "/")
	h.checkQuotas()
}

// TestQuotaReplayDeterministic: the same log applied to two machines (and
// to one restored from a snapshot, and one reopened) gives the same
// quota records and counters.
func TestQuotaReplayDeterministic(t *testing.T) {
	chunks := map[string]testChunk{}
	chunk := func(name string, n int) []*pb.StoredChunk {
		if _, ok := chunks[name]; !ok {
			chunks[name] = newChunk(t, n)
		}
		return storedAll(chunks[name])
	}
	log := []*pb.Command{
		mkdirCmd("/a"), mkdirCmd("/a/b"), mkdirCmd("/c"),
		{Op: &pb.Command_SetQuota{SetQuota: &pb.SetQuotaRequest{Path: "/a", Bytes: 500, Files: 10}}},
		{Op: &pb.Command_SetQuota{SetQuota: &pb.SetQuotaRequest{Path: "/a/b", Bytes: 100}}},
		{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: "/a/b/f", Chunks: chunk("f", 80)}}},
		{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: "/a/b/g", Chunks: chunk("g", 80)}}}, // refused
		{Op: &pb.Command_Commit{Commit: &pb.CommitRequest{Path: "/a/g", Chunks: chunk("g2", 300)}}},
		{Op: &pb.Command_Rename{Rename: &pb.RenameRequest{Src: "/a/g", Dst: "/c/g"}}},
		{Op: &pb.Command_Rename{Rename: &pb.RenameRequest{Src: "/a/b", Dst: "/c/b"}}},
		{Op: &pb.Command_Remove{Remove: &pb.RemoveRequest{Path: "/c/b/f"}}},
	}
	run := func() *fsmHarness {
		h := newMachine(t)
		for _, c := range log {
			h.apply(proto.Clone(c).(*pb.Command))
		}
		h.checkQuotas()
		return h
	}
	h1, h2 := run(), run()
	state := func(h *fsmHarness) map[string][]byte {
		out := h.prefixed(tagQuota)
		maps.Copy(out, h.prefixed(tagMeta))
		return out
	}
	want := state(h1)
	if len(h1.prefixed(tagQuota)) != 2 {
		t.Fatalf("%d quota records, want 2", len(h1.prefixed(tagQuota)))
	}
	if !maps.EqualFunc(want, state(h2), func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("two replays of one log differ")
	}
	h1.wantUsage("/a", 0, 0)
	h1.wantUsage("/c/b", 0, 0)

	restored := newMachine(t)
	restored.mustOK(restored.f.Restore(bytes.NewReader(h1.snapshotBytes())))
	if !maps.EqualFunc(want, state(restored), func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("a restored snapshot has other quota records")
	}
	h1.reopen()
	if !maps.EqualFunc(want, state(h1), func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("a reopened machine has other quota records")
	}
}
