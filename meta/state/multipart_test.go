package state

import (
	"math"
	"testing"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

func (h *fsmHarness) putPart(id string, n uint32, md5 string, cs ...testChunk) error {
	h.t.Helper()
	var size int64
	for _, c := range cs {
		size += int64(len(c.data))
	}
	req := &pb.PutUploadPartRequest{Id: id, Number: n, Chunks: storedAll(cs...), Md5: []byte(md5), Size: size}
	return h.apply(&pb.Command{Op: &pb.Command_PutUploadPart{PutUploadPart: req}}).Err
}

func (h *fsmHarness) completeMultipart(req *pb.CompletePartsRequest) (*pb.Attr, error) {
	h.t.Helper()
	return attrOf(h, h.apply(&pb.Command{Op: &pb.Command_CompleteParts{CompleteParts: req}}))
}

func TestMultipartSession(t *testing.T) {
	h := newMachine(t)
	h.mustOK(h.apply(&pb.Command{UploadId: "m1", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{
		Path: "/b/obj", Multipart: true, Xattrs: map[string]string{"app.content-type": "text/plain"}}}}).Err)
	_, err := h.mkdir("/b", false)
	h.mustOK(err)
	p1a, p1b, p2, p3, stale, unused := newChunk(t, 100), newChunk(t, 50), newChunk(t, 100), newChunk(t, 7), newChunk(t, 9), newChunk(t, 11)

	// Parts in any order; a re-upload replaces the part and releases its chunks.
	h.mustOK(h.putPart("m1", 3, "md5-3", p3))
	h.mustOK(h.putPart("m1", 2, "stale", stale))
	h.mustOK(h.putPart("m1", 2, "md5-2", p2))
	h.mustOK(h.putPart("m1", 1, "md5-1", p1a, p1b))
	h.mustOK(h.putPart("m1", 4, "md5-4", unused))
	if g := h.garbage(); len(g) != 1 || g[stale.id] == nil {
		t.Errorf("garbage after replacing part 2 = %v", g)
	}
	ps, err := uploadParts(h.f.db, "m1")
	h.mustOK(err)
	if len(ps) != 4 || ps[0].Number != 1 || ps[0].Size != 150 || ps[0].Chunks != 2 || string(ps[1].Md5) != "md5-2" {
		t.Errorf("parts = %v", ps)
	}
	in, err := sessionChunks(h.f.db)
	h.mustOK(err)
	for _, c := range []testChunk{p1a, p1b, p2, p3, unused} {
		if !in[c.id] {
			t.Errorf("chunk %s of an open part is not protected from reconciliation", c.id)
		}
	}
	wantKind(t, "part 0", h.putPart("m1", 0, "x", p3), cairn.Invalid)
	// Part numbers are generic: S3's limit of 10,000 is the gateway's.
	h.mustOK(h.apply(&pb.Command{UploadId: "big", Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{
		Path: "/b/big", Multipart: true}}}).Err)
	h.mustOK(h.putPart("big", math.MaxUint32, "x", newChunk(t, 3)))

	// Refusals leave the session as it was.
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", Parts: []*pb.CompletePart{{Number: 2}, {Number: 1}}})
	wantKind(t, "descending parts", err, cairn.Invalid)
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", Parts: []*pb.CompletePart{{Number: 1, Md5: []byte("wrong")}}})
	wantKind(t, "wrong md5", err, cairn.NotFound)
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", MinPartSize: 120, Parts: []*pb.CompletePart{{Number: 1}, {Number: 2}, {Number: 3}}})
	wantKind(t, "part 2 under the minimum", err, cairn.Invalid)

	a, err := h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", MinPartSize: 100, Xattrs: map[string]string{"app.etag": "e-3"},
		Parts: []*pb.CompletePart{{Number: 1, Md5: []byte("md5-1")}, {Number: 2}, {Number: 3}}})
	h.mustOK(err)
	h.checkContent("/b/obj", p1a, p1b, p2, p3)
	if a.Xattrs["app.etag"] != "e-3" || a.Xattrs["app.content-type"] != "text/plain" {
		t.Errorf("xattrs = %v", a.Xattrs)
	}
	if g := h.garbage(); g[unused.id] == nil || g[p1a.id] != nil {
		t.Errorf("after completion, garbage = %v: the unnamed part 4 must be released, the named ones kept", g)
	}
	// A retried completion answers with the file.
	again, err := h.completeMultipart(&pb.CompletePartsRequest{Id: "m1", Parts: []*pb.CompletePart{{Number: 1}}})
	h.mustOK(err)
	if again.Inode != a.Inode {
		t.Errorf("retried completion = inode %d, want %d", again.Inode, a.Inode)
	}
	wantKind(t, "part after completion", h.putPart("m1", 5, "x", newChunk(t, 3)), cairn.NotFound)
}

func TestMultipartAbortAndPathOverride(t *testing.T) {
	h := newMachine(t)
	_, err := h.mkdir("/b", false)
	h.mustOK(err)
	for _, id := range []string{"ab", "ov"} {
		h.mustOK(h.apply(&pb.Command{UploadId: id, Op: &pb.Command_CreateUpload{CreateUpload: &pb.CreateUploadRequest{Path: "/b/x", Multipart: true}}}).Err)
	}
	c1, c2 := newChunk(t, 10), newChunk(t, 20)
	h.mustOK(h.putPart("ab", 1, "m", c1))
	h.mustOK(h.apply(&pb.Command{Op: &pb.Command_AbortUpload{AbortUpload: &pb.AbortUploadRequest{Id: "ab"}}}).Err)
	if g := h.garbage(); g[c1.id] == nil {
		t.Error("abort did not release the part's chunks")
	}
	if len(h.prefixed(tagPartInf)) != 0 {
		t.Error("abort left part records behind")
	}
	// Completion may put the file elsewhere (the gateway does when the
	// session's path became a directory), creating parents only below
	// the existing ones.
	h.mustOK(h.putPart("ov", 1, "m", c2))
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "ov", Parts: []*pb.CompletePart{{Number: 1}}, Path: "/nobucket/x/y", Parents: true, ExistingDirs: 1})
	wantKind(t, "missing bucket", err, cairn.NotFound)
	_, err = h.completeMultipart(&pb.CompletePartsRequest{Id: "ov", Parts: []*pb.CompletePart{{Number: 1}}, Path: "/b/x/.obj", Parents: true, ExistingDirs: 1})
	h.mustOK(err)
	h.checkContent("/b/x/.obj", c2)
}

func TestWrapInDir(t *testing.T) {
	h := newMachine(t)
	c := newChunk(t, 30)
	_, err := h.commit(&pb.CommitRequest{Path: "/b/a", Parents: true, Chunks: storedAll(c), Xattrs: map[string]string{"k": "v"}})
	h.mustOK(err)
	d, err := attrOf(h, h.apply(&pb.Command{Op: &pb.Command_WrapInDir{WrapInDir: &pb.WrapInDirRequest{Path: "/b/a", Name: ".obj"}}}))
	h.mustOK(err)
	if !d.Dir {
		t.Fatalf("wrap returned %v, want the new directory", d)
	}
	h.checkContent("/b/a/.obj", c)
	if a := h.mustStat("/b/a/.obj"); a.Xattrs["k"] != "v" || a.Name != ".obj" || a.Parent != d.Inode {
		t.Errorf("wrapped file = %v", a)
	}
	// Now /b/a/c can be created beside it, and wrapping again is a no-op.
	_, err = h.commit(&pb.CommitRequest{Path: "/b/a/c", Chunks: storedAll(newChunk(t, 5))})
	h.mustOK(err)
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_WrapInDir{WrapInDir: &pb.WrapInDirRequest{Path: "/b/a", Name: ".obj"}}}))
	h.mustOK(err)
	if got := h.ls("/b/a"); len(got) != 2 {
		t.Errorf("ls /b/a = %v", got)
	}
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_WrapInDir{WrapInDir: &pb.WrapInDirRequest{Path: "/b/missing", Name: ".obj"}}}))
	wantKind(t, "wrap missing", err, cairn.NotFound)
	_, err = attrOf(h, h.apply(&pb.Command{Op: &pb.Command_WrapInDir{WrapInDir: &pb.WrapInDirRequest{Path: "/b/a/c", Name: "../x"}}}))
	wantKind(t, "wrap with a bad name", err, cairn.Invalid)
}

func TestCredentials(t *testing.T) {
	h := newMachine(t)
	put := func(ak, secret string, excl bool) error {
		return h.apply(&pb.Command{Op: &pb.Command_PutCredential{PutCredential: &pb.PutCredentialRequest{
			Credential: &pb.Credential{AccessKey: ak, Secret: secret}, Exclusive: excl}}}).Err
	}
	h.mustOK(put("AKIA1", "secret-one", true))
	wantKind(t, "exclusive add of an existing key", put("AKIA1", "secret-two", true), cairn.Exists)
	wantKind(t, "short secret", put("AKIA2", "short", false), cairn.Invalid)
	wantKind(t, "bad access key", put("a b", "secret-two", false), cairn.Invalid)
	h.mustOK(put("AKIA1", "secret-two", false))
	c, err := getCredential(h.f.db, "AKIA1")
	h.mustOK(err)
	if c.Secret != "secret-two" || c.CreatedNs == 0 {
		t.Errorf("credential = %v", c)
	}
	list, err := listCredentials(h.f.db)
	h.mustOK(err)
	if len(list) != 1 || list[0].AccessKey != "AKIA1" || list[0].Secret != "" {
		t.Errorf("list = %v: one key, secret blanked", list)
	}
	del := func() error {
		return h.apply(&pb.Command{Op: &pb.Command_DeleteCredential{DeleteCredential: &pb.DeleteCredentialRequest{AccessKey: "AKIA1"}}}).Err
	}
	h.mustOK(del())
	_, err = getCredential(h.f.db, "AKIA1")
	wantKind(t, "deleted key", err, cairn.NotFound)
	wantKind(t, "delete again", del(), cairn.NotFound)
}

// TestCredentialKeyTag: credentials are stored under the key tag S3 users
// had ('s'), so a database written before the rename reads the same.
func TestCredentialKeyTag(t *testing.T) {
	if k := credentialKey("AK"); string(k) != "sAK" {
		t.Errorf("credentialKey = %q, want the s table", k)
	}
}
