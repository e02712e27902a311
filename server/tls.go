package server

import (
	"crypto/tls"
	"net"
	"net/http"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/pki"
)

// secureListener serves TLS on l with src's certificates, requiring a
// client certificate when requireClient (internal ports) and verifying
// one if given otherwise (ports that health probes reach). With src nil
// (--insecure) it returns l.
func secureListener(l net.Listener, src *pki.Source, requireClient bool) net.Listener {
	if src == nil {
		return l
	}
	return tls.NewListener(l, src.ServerTLS(requireClient))
}

// requireIdentity lets a request through only when it came with a
// verified client certificate of a user, an admin or a gateway. With src
// nil (--insecure) it returns h.
func requireIdentity(src *pki.Source, h http.Handler) http.Handler {
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
		if !id.HasAny(pki.User, pki.Admin, pki.Gateway) {
			cairnhttp.WriteError(w, cairn.E("rest.authorize", cairn.Permission, errNotUser(id)))
			return
		}
		h.ServeHTTP(w, r)
	})
}

type errNotUser pki.Identity

func (e errNotUser) Error() string {
	return pki.Identity(e).String() + " may not use the REST API: it needs the user, admin or gateway role"
}
