package state

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestRetriedRequestAppliesOnce: a command that repeats a request ID gets
// the first application's result, success or failure, and changes
// nothing; the same ID on another operation, or after the results expired,
// is a new request.
func TestRetriedRequestAppliesOnce(t *testing.T) {
	h := newMachine(t)
	req := &pb.RequestID{Client: []byte("client-0123456789"), Seq: 7}
	withID := func(cmd *pb.Command, id *pb.RequestID) *pb.Command {
		cmd.Request = id
		return cmd
	}
	mkdir := func(path string, id *pb.RequestID) Result {
		return h.apply(withID(&pb.Command{Op: &pb.Command_Mkdir{Mkdir: &pb.MkdirRequest{Path: path}}}, id))
	}
	remove := func(path string, id *pb.RequestID) Result {
		return h.apply(withID(&pb.Command{Op: &pb.Command_Remove{Remove: &pb.RemoveRequest{Path: path}}}, id))
	}

	first := mkdir("/d", req)
	if first.Err != nil {
		t.Fatal(first.Err)
	}
	again := mkdir("/d", req)
	if again.Err != nil || !proto.Equal(again.Resp, first.Resp) {
		t.Fatalf("retried mkdir = %v, %v; want the first answer %v", again.Resp, again.Err, first.Resp)
	}
	if fresh := mkdir("/d", &pb.RequestID{Client: req.Client, Seq: 8}); !errors.Is(fresh.Err, cairn.Exists) {
		t.Fatalf("a new request for the same mkdir: %v, want Exists", fresh.Err)
	}

	// A failure is remembered as well: the retry does not succeed where
	// the first attempt failed.
	gone := &pb.RequestID{Client: req.Client, Seq: 9}
	if r := remove("/missing", gone); !errors.Is(r.Err, cairn.NotFound) {
		t.Fatalf("remove of a missing file: %v", r.Err)
	}
	mkdir("/missing", nil)
	if r := remove("/missing", gone); !errors.Is(r.Err, cairn.NotFound) {
		t.Fatalf("retried remove: %v, want the first answer (not found)", r.Err)
	}
	h.mustStat("/missing")

	// The remove that the client never heard back from, retried.
	rm := &pb.RequestID{Client: req.Client, Seq: 10}
	if r := remove("/missing", rm); r.Err != nil {
		t.Fatal(r.Err)
	}
	if r := remove("/missing", rm); r.Err != nil {
		t.Fatalf("retried remove after success: %v, want success again", r.Err)
	}

	// Another operation under a used ID is not a retry.
	if r := remove("/d", req); r.Err != nil {
		t.Fatalf("remove under the mkdir's ID: %v", r.Err)
	}
	if _, err := h.stat("/d"); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("/d after remove: %v", err)
	}

	// Results survive a restart (they are replicated state).
	h.reopen()
	if r := remove("/missing", rm); r.Err != nil {
		t.Fatalf("retry after restart: %v", r.Err)
	}

	// After the TTL, later commands drop the results.
	h.now += int64(RequestTTL) + int64(time.Second)
	mkdir("/later", &pb.RequestID{Client: []byte("another-client-id"), Seq: 1})
	if n := len(h.prefixed(tagRequest)); n != 1 {
		t.Errorf("%d results kept after the TTL, want only the newest", n)
	}
	if n := len(h.prefixed(tagRequestExp)); n != 1 {
		t.Errorf("%d expiry entries kept after the TTL, want 1", n)
	}
	if r := remove("/missing", rm); !errors.Is(r.Err, cairn.NotFound) {
		t.Fatalf("an expired request is applied anew: %v, want not found", r.Err)
	}
}
