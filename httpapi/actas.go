package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/pki"
)

// HeaderActAs names the namespace user a request acts as. Admin and
// gateway certificates may send it (and anyone on a peer run with
// --insecure); a user certificate always acts as its own user.
const HeaderActAs = "Cairn-Act-As"

type clientKey struct{}

// actAs gives each request the client that acts for its caller: the user
// of a user certificate, the user an admin or gateway names in
// HeaderActAs, else the server's own principal (the superuser).
func (a *api) actAs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, err := actAsName(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if name != "" {
			r = r.WithContext(context.WithValue(r.Context(), clientKey{}, a.c.As(name)))
		}
		next.ServeHTTP(w, r)
	})
}

// actAsName is the namespace user request r acts as; "" is the server's
// own principal.
func actAsName(r *http.Request) (string, error) {
	named := r.Header.Get(HeaderActAs)
	if r.TLS == nil {
		return named, nil // --insecure: callers are trusted
	}
	id, err := pki.PeerIdentity(r.TLS)
	if err != nil {
		return "", cairn.E("rest.authenticate", cairn.Permission, err)
	}
	switch {
	case id.HasAny(pki.Admin, pki.Gateway):
		return named, nil
	case id.Has(pki.User):
		if named != "" && named != id.Name {
			return "", cairn.E("rest.act-as", cairn.Permission,
				fmt.Errorf("%s may not act as %q: only admin and gateway certificates may send %s", id, named, HeaderActAs))
		}
		return id.Name, nil
	}
	return "", cairn.E("rest.authorize", cairn.Permission, fmt.Errorf("%s is no namespace principal", id))
}

// cl is the client that acts for request r.
func (a *api) cl(r *http.Request) *client.Client {
	if c, ok := r.Context().Value(clientKey{}).(*client.Client); ok {
		return c
	}
	return a.c
}
