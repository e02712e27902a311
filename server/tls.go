package server

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/pki"
)

// secureListener serves TLS on l with src's certificates. A client
// certificate is verified when given but not required at the handshake,
// because health probes reach these ports without one; the handlers
// behind it (requireIdentity, the data node's chunk routes) refuse
// requests without a verified identity. With src nil (--insecure) it
// returns l.
func secureListener(l net.Listener, src *pki.Source) net.Listener {
	if src == nil {
		return l
	}
	return tls.NewListener(l, src.ServerTLS(false))
}

// requireIdentity lets a request through only when it came with a
// verified client certificate of a user, an admin or a gateway. With src
// nil (--insecure) it returns h.
func requireIdentity(src *pki.Source, h http.Handler) http.Handler {
	return requireRoles(src, h, pki.User, pki.Admin, pki.Gateway)
}

// requireRoles lets a request through only when it came with a verified
// client certificate holding one of roles. With src nil (--insecure) it
// returns h.
func requireRoles(src *pki.Source, h http.Handler, roles ...pki.Role) http.Handler {
	if src == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := pki.PeerIdentity(r.TLS)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Mutual-TLS realm="cairn"`)
			cairnhttp.WriteError(w, cairn.E("rest.authenticate", cairn.Permission, err))
			return
		}
		if !id.HasAny(roles...) {
			cairnhttp.WriteError(w, cairn.E("http.authorize", cairn.Permission, fmt.Errorf("%s may not use %s: it needs one of the roles %v", id, r.URL.Path, roles)))
			return
		}
		h.ServeHTTP(w, r)
	})
}
