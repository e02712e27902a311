package grpcapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestEveryMethodHasAPolicy: every RPC of the API names the roles that
// may call it, so a new RPC cannot be added without deciding who may
// call it (one with no policy is refused to everyone, which a test of
// the RPC would notice, but this says why).
func TestEveryMethodHasAPolicy(t *testing.T) {
	svcs := pb.File_cairn_proto.Services()
	for i := range svcs.Len() {
		s := svcs.Get(i)
		for j := range s.Methods().Len() {
			m := fmt.Sprintf("/%s/%s", s.FullName(), s.Methods().Get(j).Name())
			if len(rolesFor(m)) == 0 {
				t.Errorf("%s has no policy in serviceRoles or methodRoles", m)
			}
		}
	}
	for m := range methodRoles {
		found := false
		for i := range svcs.Len() {
			s := svcs.Get(i)
			for j := range s.Methods().Len() {
				found = found || m == fmt.Sprintf("/%s/%s", s.FullName(), s.Methods().Get(j).Name())
			}
		}
		if !found {
			t.Errorf("methodRoles names %s, which is not an RPC of the API", m)
		}
	}
}

// callerCtx is the context of a call from a client whose verified
// certificate names the given roles (none: a TLS client without one).
func callerCtx(t *testing.T, name string, roles ...pki.Role) context.Context {
	t.Helper()
	ca, err := pki.CreateCA("authz test", 0)
	if err != nil {
		t.Fatal(err)
	}
	var chains [][]*x509.Certificate
	if len(roles) > 0 {
		certPEM, _, err := ca.Issue(pki.CertSpec{Name: name, Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := pem.Decode(certPEM)
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chains = [][]*x509.Certificate{{leaf, ca.Cert}}
	}
	info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: chains}}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: info})
}

func TestAuthorize(t *testing.T) {
	cases := []struct {
		method string
		roles  []pki.Role
		ok     bool
	}{
		{"/cairn.v1.Namespace/Mkdir", []pki.Role{pki.User}, true},
		{"/cairn.v1.Namespace/Remove", []pki.Role{pki.Node}, false}, // data nodes never touch the namespace
		{"/cairn.v1.Data/AllocateChunks", []pki.Role{pki.Gateway}, true},
		{"/cairn.v1.Nodes/RegisterNode", []pki.Role{pki.User}, false}, // no fake data nodes
		{"/cairn.v1.Nodes/RegisterNode", []pki.Role{pki.Admin}, false},
		{"/cairn.v1.Nodes/Heartbeat", []pki.Role{pki.Node}, true},
		{"/cairn.v1.Operator/RemovePeer", []pki.Role{pki.User}, false},
		{"/cairn.v1.Operator/Drain", []pki.Role{pki.Gateway}, false},
		{"/cairn.v1.Operator/Fsck", []pki.Role{pki.Admin}, true},
		{"/cairn.v1.Operator/SetQuota", []pki.Role{pki.Admin}, true},
		{"/cairn.v1.Operator/SetQuota", []pki.Role{pki.Meta}, false},
		{"/cairn.v1.Operator/SetQuota", []pki.Role{pki.User}, false},
		{"/cairn.v1.Credentials/PutCredential", []pki.Role{pki.Gateway}, false}, // gateways do not mint keys
		{"/cairn.v1.Credentials/PutCredential", []pki.Role{pki.Admin}, true},
		{"/cairn.v1.Credentials/GetSecret", []pki.Role{pki.Admin}, false}, // secrets only to gateways
		{"/cairn.v1.Credentials/GetSecret", []pki.Role{pki.Gateway}, true},
		{"/cairn.v1.Cluster/ClusterStatus", []pki.Role{pki.User}, true},
		{"/cairn.v1.Nope/Anything", pki.Roles, false}, // unknown services are refused
		{"/cairn.v1.Namespace/Stat", nil, false},      // no certificate
	}
	for _, tc := range cases {
		err := authorize(callerCtx(t, "caller", tc.roles...), tc.method)
		if tc.ok != (err == nil) {
			t.Errorf("%s by %v: %v, want allowed=%v", tc.method, tc.roles, err, tc.ok)
		}
		if err != nil && !errors.Is(err, cairn.Permission) {
			t.Errorf("%s by %v: %v, want a Permission error", tc.method, tc.roles, err)
		}
	}
	if err := authorize(context.Background(), "/cairn.v1.Namespace/Stat"); !errors.Is(err, cairn.Permission) {
		t.Errorf("a call without peer information: %v", err)
	}
}
