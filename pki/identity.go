// Package pki is Cairn's certificate authority and the TLS material every
// role and client uses: it creates a CA and the certificates it signs
// (`cairn cert ...`, and `cairn server` on its first run), loads a
// certificate directory and reloads it when its files change, and reads
// the identity a peer's certificate carries.
//
// A certificate directory holds three PEM files, the layout cert-manager
// writes into a Kubernetes Secret:
//
//	ca.crt   the CA certificates this process trusts
//	tls.crt  this process's certificate (then any intermediates)
//	tls.key  its private key (mode 0600)
//
// An identity is a name and one or more roles, carried in the
// certificate as URI subject alternative names cairn://ROLE/NAME, for
// example cairn://node/node-1 or cairn://user/alice. Host names and IP
// addresses a server answers on are ordinary DNS and IP SANs.
package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Role is what an identity may act as.
type Role string

// The roles. A process that runs several (cairn server) has them all in
// one certificate.
const (
	Meta    Role = "meta"    // a metadata peer
	Node    Role = "node"    // a data node
	Gateway Role = "gateway" // an S3 gateway, acting for the users whose signatures it checked
	Admin   Role = "admin"   // an operator: cluster membership, credentials, fsck; a superuser in the namespace
	User    Role = "user"    // a user of the namespace
)

// Roles lists every role, in the order above.
var Roles = []Role{Meta, Node, Gateway, Admin, User}

// ParseRole checks that s names a role.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("unknown role %q: want one of meta, node, gateway, admin, user", s)
	}
	return r, nil
}

// Identity is who a certificate speaks for.
type Identity struct {
	Name  string
	Roles []Role
}

// Has reports whether the identity holds role r.
func (id Identity) Has(r Role) bool { return slices.Contains(id.Roles, r) }

// HasAny reports whether the identity holds one of rs.
func (id Identity) HasAny(rs ...Role) bool {
	return slices.ContainsFunc(rs, id.Has)
}

// String is "name (role,role)".
func (id Identity) String() string {
	rs := make([]string, len(id.Roles))
	for i, r := range id.Roles {
		rs[i] = string(r)
	}
	return fmt.Sprintf("%s (%s)", id.Name, strings.Join(rs, ","))
}

// uriScheme is the scheme of identity SANs.
const uriScheme = "cairn"

// identityURI is the SAN for name acting as role.
func identityURI(r Role, name string) *url.URL {
	return &url.URL{Scheme: uriScheme, Host: string(r), Path: "/" + name}
}

// validName checks a principal name: printable, no slash or space, at
// most 128 bytes.
func validName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("name %q: need 1 to 128 characters", name)
	}
	for _, c := range name {
		if c <= ' ' || c == '/' || c == '\x7f' || c > '~' {
			return fmt.Errorf("name %q: only printable ASCII without spaces or slashes", name)
		}
	}
	return nil
}

// IdentityOf reads the identity from a certificate's cairn:// URI SANs.
// Every such SAN must name the same principal.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	var id Identity
	for _, u := range cert.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		r, err := ParseRole(u.Host)
		if err != nil {
			return Identity{}, fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		if err := validName(name); err != nil {
			return Identity{}, fmt.Errorf("certificate %q: %w", cert.Subject.CommonName, err)
		}
		if id.Name != "" && id.Name != name {
			return Identity{}, fmt.Errorf("certificate %q names two principals, %q and %q", cert.Subject.CommonName, id.Name, name)
		}
		id.Name = name
		if !id.Has(r) {
			id.Roles = append(id.Roles, r)
		}
	}
	if id.Name == "" {
		return Identity{}, fmt.Errorf("certificate %q carries no Cairn identity (a URI SAN cairn://ROLE/NAME); issue it with `cairn cert`", cert.Subject.CommonName)
	}
	return id, nil
}

// ErrNoCertificate means the peer presented no verified certificate.
var ErrNoCertificate = errors.New("no verified client certificate: connect with a certificate from `cairn cert create-client` (--certs-dir or CAIRN_CERTS_DIR)")

// PeerIdentity returns the identity of the verified certificate in a TLS
// connection's state. The handshake has verified the chain already.
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, ErrNoCertificate
	}
	return IdentityOf(cs.VerifiedChains[0][0])
}

// Covers reports whether the identity's name covers name, an ID the
// holder claims (a data node's registered ID): the same name, or, for an
// identity whose name ends in "*" (a fleet certificate such as node-*),
// any name that begins with what precedes the "*" and has at least one
// character more. "*" alone covers every name.
func (id Identity) Covers(name string) bool {
	prefix, wild := strings.CutSuffix(id.Name, "*")
	if !wild {
		return name == id.Name
	}
	return len(name) > len(prefix) && strings.HasPrefix(name, prefix)
}
