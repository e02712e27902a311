package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/cairnfs/cairn"
)

// A browser the operator uses can be made to send requests to the API:
// a cross-origin form or fetch from any web page (it carries the page's
// Origin), or a page whose DNS name is rebound to the API's address (it
// carries the page's name as Host). The API answers neither, reading or
// writing: it refuses a Host that is not one of its own names and an
// Origin that is not the API's own or allowed. Programs (the CLI, curl,
// SDKs) send no Origin and use the address they were given, so they pass.

// access decides which requests the API answers. Its zero value answers
// loopback names and IP literals, and same-origin browser requests only.
type access struct {
	hosts   map[string]bool // lower-case host names, without port
	anyHost bool
	origins map[string]bool // normalised origins: scheme://host:port
	anyOrig bool
}

func newAccess(hosts, origins []string) access {
	var a access
	a.hosts, a.anyHost = nameSet(hosts, hostOnly)
	a.origins, a.anyOrig = nameSet(origins, normOrigin)
	return a
}

// nameSet returns the normalised items of a list, and whether "*" is one
// of them; blank items are skipped.
func nameSet(items []string, norm func(string) string) (map[string]bool, bool) {
	set, all := map[string]bool{}, false
	for _, it := range items {
		switch it = strings.TrimSpace(it); it {
		case "":
		case "*":
			all = true
		default:
			set[norm(it)] = true
		}
	}
	return set, all
}

// hostOnly returns h's host name in lower case, without port or IPv6
// brackets.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// normOrigin returns an origin as scheme://host:port in lower case, with
// the scheme's default port made explicit; an origin that does not parse
// is returned as it is (it then equals nothing but itself).
func normOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return strings.ToLower(o)
	}
	return strings.ToLower(u.Scheme) + "://" + hostPort(u.Host, u.Scheme)
}

// hostPort returns host[:port] as host:port in lower case, with the
// scheme's default port when none is given.
func hostPort(h, scheme string) string {
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.ToLower(host), port)
}

// hostAllowed reports whether the API answers requests for Host h.
func (a access) hostAllowed(h string) bool {
	if h == "" || a.anyHost { // HTTP/1.0 without Host: not a browser
		return true
	}
	name := hostOnly(h)
	if name == "localhost" || net.ParseIP(name) != nil || a.hosts[name] {
		return true
	}
	return false
}

// check returns a Permission error for a request the API must not
// answer, and nil for one it may.
func (a access) check(r *http.Request) error {
	if !a.hostAllowed(r.Host) {
		return cairn.E("http", cairn.Permission, fmt.Errorf(
			"request for host %q refused: not a name this server answers to (a defence against DNS rebinding); allow it with --allowed-hosts", r.Host))
	}
	origin := r.Header.Get("Origin")
	if origin != "" && (a.anyOrig || a.origins[normOrigin(origin)]) {
		return nil
	}
	if origin != "" && normOrigin(origin) != requestOrigin(r, origin) {
		return cairn.E("http", cairn.Permission, fmt.Errorf(
			"cross-origin request from Origin %q refused; allow that origin with --allowed-origins", origin))
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return cairn.E("http", cairn.Permission, fmt.Errorf(
			"cross-site request (Sec-Fetch-Site: cross-site) refused; allow its origin with --allowed-origins"))
	}
	return nil
}

// requestOrigin is the origin a same-origin page of this request would
// have: the Origin's scheme and the request's Host.
func requestOrigin(r *http.Request, origin string) string {
	scheme := "http"
	if u, err := url.Parse(origin); err == nil && u.Scheme != "" {
		scheme = strings.ToLower(u.Scheme)
	}
	return scheme + "://" + hostPort(r.Host, scheme)
}

// guardAccess answers 403 to requests that access refuses.
func (a *api) guardAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.access.check(r); err != nil {
			a.fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
