package pki

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
)

// GRPCServer is the transport credentials of a gRPC server that requires
// a client certificate signed by the CA.
func (s *Source) GRPCServer() credentials.TransportCredentials {
	return credentials.NewTLS(s.ServerTLS(true))
}

// GRPCClient is the transport credentials of a gRPC client; each
// handshake uses the certificates and CA bundle current at that moment.
func (s *Source) GRPCClient() credentials.TransportCredentials {
	return grpcClient{s: s, TransportCredentials: credentials.NewTLS(s.ClientTLS())}
}

// grpcClient makes every client handshake with a fresh ClientTLS, so a
// rotated CA bundle applies to new connections.
type grpcClient struct {
	s *Source
	credentials.TransportCredentials
}

func (g grpcClient) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(g.s.ClientTLS()).ClientHandshake(ctx, authority, raw)
}

func (g grpcClient) Clone() credentials.TransportCredentials {
	return grpcClient{s: g.s, TransportCredentials: g.TransportCredentials.Clone()}
}
