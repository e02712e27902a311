package inprocess_test

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestInsecureMintsNothing: without TLS there is no keyring, and data
// nodes are handed no token keys (so they check nothing either).
func TestInsecureMintsNothing(t *testing.T) {
	s := start(t, t.TempDir())
	if s.Keyring() != nil {
		t.Fatal("an insecure service has a keyring")
	}
	cc, err := grpc.NewClient(s.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := pb.NewNodesClient(cc).RegisterNode(testCtx(t), &pb.RegisterNodeRequest{Id: "n1", Addr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.TokenKeys) != 0 {
		t.Errorf("an insecure service handed out %d token keys", len(resp.TokenKeys))
	}
}
