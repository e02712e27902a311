package meta

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// peerDialer keeps gRPC connections to other peers' APIs (the leader polls
// joining peers; followers poll the leader). Addresses are resolved at
// every connection attempt, so a DNS name that appears late works.
type peerDialer struct {
	tls   *pki.Source // nil: plain connections (--insecure)
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// conn returns the connection to the peer at addr, for the stubs of the
// services a peer calls (Cluster, and Operator to record its address).
func (d *peerDialer) conn(addr string) (grpc.ClientConnInterface, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if cc, ok := d.conns[addr]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if d.tls != nil {
		creds = d.tls.GRPCClient()
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithDisableServiceConfig()) // as metarpc: no DNS TXT lookups
	if err != nil {
		return nil, err
	}
	if d.conns == nil {
		d.conns = map[string]*grpc.ClientConn{}
	}
	d.conns[addr] = cc
	return cc, nil
}

// peersOf asks the peer at addr for its view of the cluster.
func (d *peerDialer) peersOf(ctx context.Context, addr string) (*pb.PeersResponse, error) {
	cc, err := d.conn(addr)
	if err != nil {
		return nil, err
	}
	resp, err := pb.NewClusterClient(cc).Peers(ctx, &pb.PeersRequest{})
	return resp, rpcerr.FromStatus(err)
}

func (d *peerDialer) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cc := range d.conns {
		cc.Close()
	}
	d.conns = nil
}
