package state

import (
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

func TestCheckAge(t *testing.T) {
	id := cairn.NewChunkID()
	chunks := []*pb.StoredChunk{{Chunk: &pb.ChunkRef{Id: id[:], Length: 1}, Nodes: []string{"n1"}}}
	if err := CheckAge(chunks, time.Hour, id.Time().Add(59*time.Minute)); err != nil {
		t.Errorf("a chunk allocated 59 minutes ago: %v", err)
	}
	wantKind(t, "a chunk allocated 61 minutes ago", CheckAge(chunks, time.Hour, id.Time().Add(61*time.Minute)), cairn.Invalid)
	bad := []*pb.StoredChunk{{Chunk: &pb.ChunkRef{Id: []byte{1, 2}}}}
	if err := CheckAge(bad, time.Hour, time.Now()); err == nil {
		t.Error("a malformed chunk ID passed")
	}
}

func TestCheckXattrs(t *testing.T) {
	if err := CheckXattrs(map[string]string{"user.a": "b"}); err != nil {
		t.Errorf("small attributes: %v", err)
	}
	wantKind(t, "empty name", CheckXattrs(map[string]string{"": "v"}), cairn.Invalid)
	wantKind(t, "long name", CheckXattrs(map[string]string{strings.Repeat("n", cairn.MaxNameLen+1): "v"}), cairn.Invalid)
	wantKind(t, "over 64 KiB", CheckXattrs(map[string]string{"a": strings.Repeat("v", 64<<10)}), cairn.Invalid)
}

func TestCheckCredential(t *testing.T) {
	if err := CheckCredential(&pb.Credential{AccessKey: "AKIA1", Secret: "secret-one"}); err != nil {
		t.Errorf("good pair: %v", err)
	}
	wantKind(t, "nil credential", CheckCredential(nil), cairn.Invalid)
	wantKind(t, "short access key", CheckCredential(&pb.Credential{AccessKey: "ab", Secret: "secret-one"}), cairn.Invalid)
	wantKind(t, "secret with a space", CheckCredential(&pb.Credential{AccessKey: "AKIA1", Secret: "secret one"}), cairn.Invalid)
}
