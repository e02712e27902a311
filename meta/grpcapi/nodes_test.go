package grpcapi

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestNodeIDBoundToCertificate: every Nodes RPC that names a data node
// refuses a certificate that does not name it, before it touches the
// state (the handler group has no core here: a call that got past the
// check would panic).
func TestNodeIDBoundToCertificate(t *testing.T) {
	api := nodeAPI{}
	calls := map[string]func(ctx context.Context, id string) error{
		"RegisterNode": func(ctx context.Context, id string) error {
			_, err := api.RegisterNode(ctx, &pb.RegisterNodeRequest{Id: id, Addr: "127.0.0.1:7070"})
			return err
		},
		"Heartbeat": func(ctx context.Context, id string) error {
			_, err := api.Heartbeat(ctx, &pb.HeartbeatRequest{Id: id})
			return err
		},
		"Leave": func(ctx context.Context, id string) error {
			_, err := api.Leave(ctx, &pb.LeaveRequest{Id: id})
			return err
		},
		"ReportCorrupt": func(ctx context.Context, id string) error {
			_, err := api.ReportCorrupt(ctx, &pb.ReportCorruptRequest{Node: id})
			return err
		},
		"Reconcile": func(ctx context.Context, id string) error {
			_, err := api.Reconcile(ctx, &pb.ReconcileRequest{Node: id})
			return err
		},
	}
	other := callerCtx(t, "node-1", pki.Node)
	fleet := callerCtx(t, "node-*", pki.Node)
	for name, call := range calls {
		err := call(other, "node-2")
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s as node-2 with node-1's certificate: %v, want PermissionDenied", name, err)
		}
		if msg := err.Error(); !strings.Contains(msg, `"node-2"`) || !strings.Contains(msg, "node-1 (node)") {
			t.Errorf("%s: the refusal should name the certificate and the ID: %s", name, msg)
		}
		if err := call(fleet, "cairn-meta-0"); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s as cairn-meta-0 with the node-* certificate: %v, want PermissionDenied", name, err)
		}
	}
}

func TestCheckNodeID(t *testing.T) {
	insecurePeer := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: plainAuth{}})
	for _, c := range []struct {
		ctx  context.Context
		id   string
		want bool
	}{
		{callerCtx(t, "node-1", pki.Node), "node-1", true},
		{callerCtx(t, "node-1", pki.Node), "node-10", false},
		{callerCtx(t, "node-*", pki.Node), "node-0a1b2c3d", true},
		{callerCtx(t, "cairn-node", pki.Node), "node-0a1b2c3d", false},
		// cairn server's certificate: a metadata peer too.
		{callerCtx(t, "server", pki.Meta, pki.Node), "node-0a1b2c3d", true},
		// An --insecure peer has no certificate to bind to.
		{insecurePeer, "node-0a1b2c3d", true},
		{context.Background(), "node-0a1b2c3d", true},
		// TLS without a certificate.
		{callerCtx(t, ""), "node-1", false},
	} {
		if err := checkNodeID(c.ctx, "test", c.id); (err == nil) != c.want {
			t.Errorf("%q: %v, want allowed %v", c.id, err, c.want)
		}
	}
}

// plainAuth is the AuthInfo of a connection without TLS.
type plainAuth struct{ credentials.CommonAuthInfo }

func (plainAuth) AuthType() string { return "insecure" }
