package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/metarpc"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestNodeCertificateBindsID: a data node's certificate decides which
// node IDs it may act as. The cluster's nodes (fleet certificate node-*)
// register; a certificate named node-mallory may neither register as,
// heartbeat for, nor deregister a node with another ID, while it may act
// as node-mallory itself.
func TestNodeCertificateBindsID(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1})
	victim := string(c.Nodes[0].Proc.Node.ID())
	conn, err := metarpc.Dial(c.MetaAddrs(), metarpc.Options{TLS: c.Cert("node-mallory", pki.Node), RetryFor: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nodes := func(fn func(pb.NodesClient) error) error {
		return conn.Leader(ctx, func(ctx context.Context, cc grpc.ClientConnInterface) error { return fn(pb.NewNodesClient(cc)) })
	}
	attempts := map[string]func(id string) error{
		"register": func(id string) error {
			return nodes(func(n pb.NodesClient) error {
				_, err := n.RegisterNode(ctx, &pb.RegisterNodeRequest{Id: id, Addr: "127.0.0.1:1", Capacity: 1 << 30})
				return err
			})
		},
		"heartbeat": func(id string) error {
			return nodes(func(n pb.NodesClient) error { _, err := n.Heartbeat(ctx, &pb.HeartbeatRequest{Id: id}); return err })
		},
		"leave": func(id string) error {
			return nodes(func(n pb.NodesClient) error { _, err := n.Leave(ctx, &pb.LeaveRequest{Id: id}); return err })
		},
	}
	for what, try := range attempts {
		err := try(victim)
		if !errors.Is(err, cairn.Permission) {
			t.Fatalf("%s as %s with node-mallory's certificate: %v, want a permission error", what, victim, err)
		}
		if !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), "node-mallory") {
			t.Errorf("%s: the refusal names neither the certificate nor the ID: %v", what, err)
		}
	}
	if st := c.NodeState(cairn.NodeID(victim)); st != cairn.NodeAlive {
		t.Errorf("after the refused calls, %s is %v, want alive", victim, st)
	}
	// Under its own name the certificate works: it registers, beats and
	// leaves.
	for _, what := range []string{"register", "heartbeat", "leave"} {
		if err := attempts[what]("node-mallory"); err != nil {
			t.Errorf("%s as node-mallory with its own certificate: %v", what, err)
		}
	}
}
