package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/rpcerr"
)

// Who may call what. A service lists the roles that may call all of its
// methods; a method listed on its own overrides its service. A method of
// no listed service is refused. The metadata peers' own role may call
// what a peer calls on another (Cluster, Operator's AddPeer to record its
// address) and what the REST API, served by a peer, calls for its
// clients (Namespace, Data).
var (
	serviceRoles = map[string][]pki.Role{
		"cairn.v1.Namespace":   {pki.User, pki.Admin, pki.Gateway, pki.Meta},
		"cairn.v1.Data":        {pki.User, pki.Admin, pki.Gateway, pki.Meta},
		"cairn.v1.Nodes":       {pki.Node},
		"cairn.v1.Cluster":     pki.Roles,
		"cairn.v1.Operator":    {pki.Admin, pki.Meta},
		"cairn.v1.Credentials": {pki.Admin},
	}
	methodRoles = map[string][]pki.Role{
		// Data nodes report a frozen next replica of their chain, as
		// clients report a frozen first one.
		"/cairn.v1.Data/ReportSlow": {pki.User, pki.Admin, pki.Gateway, pki.Meta, pki.Node},
		// Secrets go only to gateways, which verify signatures with them.
		"/cairn.v1.Credentials/GetSecret": {pki.Gateway},
		// Quotas limit users; only an administrator sets them.
		"/cairn.v1.Operator/SetQuota": {pki.Admin},
		// Resealing is an operator's step of a key rotation.
		"/cairn.v1.Operator/ResealSecrets": {pki.Admin},
	}
)

// rolesFor returns the roles that may call a full method name
// ("/cairn.v1.Data/Lookup").
func rolesFor(method string) []pki.Role {
	if rs, ok := methodRoles[method]; ok {
		return rs
	}
	svc, _, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return nil
	}
	return serviceRoles[svc]
}

// authorize checks that the caller's verified certificate holds a role
// that may call method.
func authorize(ctx context.Context, method string) error {
	const op = "authorize"
	id, err := callerIdentity(ctx)
	if err != nil {
		return cairn.E(op, cairn.Permission, err)
	}
	want := rolesFor(method)
	if !id.HasAny(want...) {
		return cairn.E(op, cairn.Permission, fmt.Errorf("%s may not call %s: it needs one of the roles %v", id, method, want))
	}
	return nil
}

// callerIdentity returns the identity of the caller's verified
// certificate.
func callerIdentity(ctx context.Context) (pki.Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return pki.Identity{}, errors.New("no peer information on the call")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return pki.Identity{}, pki.ErrNoCertificate
	}
	return pki.PeerIdentity(&info.State)
}

// Authorization returns the server options that check every call against
// the caller's certificate. Use them on a server whose transport
// credentials require client certificates (pki.Source.GRPCServer).
func Authorization() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := authorize(ctx, info.FullMethod); err != nil {
				return nil, rpcerr.ToStatus(err)
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := authorize(ss.Context(), info.FullMethod); err != nil {
				return rpcerr.ToStatus(err)
			}
			return h(srv, ss)
		}),
	}
}
