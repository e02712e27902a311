package pki

import (
	"context"
	"net"
	"net/http"

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

// Scheme is the URL scheme of Cairn's HTTP ports for a process with
// source s: https with TLS material, http without (s nil, --insecure).
func Scheme(s *Source) string {
	if s == nil {
		return "http"
	}
	return "https"
}

// Transport makes t dial https connections with s's certificates; with s
// nil it returns t unchanged.
func (s *Source) Transport(t *http.Transport) *http.Transport {
	if s != nil {
		t.DialTLSContext = s.DialTLS
	}
	return t
}
