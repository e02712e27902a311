// Package httpapi is Cairn's REST API, served on the metadata HTTP port. It
// is a thin HTTP front end over the Go SDK (package client): every request
// becomes one or a few client calls, so the API finds the metadata leader,
// spreads chunks over data nodes and verifies checksums exactly as Go
// programs do. docs/http-api.md documents the routes.
//
// Paths after /v1/files/, /v1/stat/ and /v1/locations/ are namespace paths
// (/v1/files/a/b.txt is /a/b.txt, /v1/files/ is the root), percent-decoded
// and then checked by cairn.CleanPath; a path it rejects ("..", NUL, an
// overlong name) is a 400 with a JSON error that says what is wrong. Every
// error goes through cairnhttp.WriteError, the one table from error kinds
// to HTTP statuses.
//
// An upload commits only if the whole body arrived (and, when the client
// sent X-Cairn-Crc32c, only if its checksum matches): otherwise the file is
// left as it was.
package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/client"
)

// HeaderCRC carries a file's CRC32C (8 hex digits) on downloads, and the
// expected CRC32C of the body on uploads.
const HeaderCRC = "X-Cairn-Crc32c"

// Listing limits for GET on a directory.
const (
	DefaultListLimit = 1000
	MaxListLimit     = 10000
)

// Options configure the API. The zero value is usable.
type Options struct {
	// Logger receives one line per failed request (server-side failures at
	// Error level, client mistakes at Debug); default slog.Default().
	Logger *slog.Logger
	// MaxUploadSize bounds a request body in bytes; 0 means no limit. A
	// larger body is refused with 400 and nothing is committed.
	MaxUploadSize int64
	// AllowedHosts are the Host names (a port is ignored) the API answers
	// besides localhost and IP literals; "*" allows every name. Requests
	// for any other name get 403: a web page whose DNS name is rebound to
	// the API's address must not reach it. The server adds its own names.
	AllowedHosts []string
	// AllowedOrigins are the origins (scheme://host[:port]) whose
	// cross-origin browser requests the API answers; "*" allows every
	// origin. A request with another Origin than the API's own, or with
	// Sec-Fetch-Site: cross-site, gets 403. Requests without Origin (the
	// CLI, curl, SDKs) are not affected.
	AllowedOrigins []string
}

// api holds the handler's dependencies.
type api struct {
	c      *client.Client
	opts   Options
	log    *slog.Logger
	access access
}

// New returns the REST API as an http.Handler serving the /v1/ routes. c
// finds the metadata leader by itself; the handler is safe for concurrent
// use and keeps no state of its own between requests.
func New(c *client.Client, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &api{c: c, opts: opts, log: opts.Logger, access: newAccess(opts.AllowedHosts, opts.AllowedOrigins)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/files/{path...}", a.getFile)
	mux.HandleFunc("HEAD /v1/files/{path...}", a.headFile)
	mux.HandleFunc("PUT /v1/files/{path...}", a.putFile)
	mux.HandleFunc("POST /v1/files/{path...}", a.postFile)
	mux.HandleFunc("DELETE /v1/files/{path...}", a.deleteFile)
	mux.HandleFunc("GET /v1/stat/{path...}", a.stat)
	mux.HandleFunc("GET /v1/locations/{path...}", a.locations)
	mux.HandleFunc("GET /v1/cluster", a.cluster)
	return a.guardAccess(a.guard(a.actAs(mux)))
}

// guard answers what ServeMux would otherwise redirect. The mux sends a
// 301 to a cleaned URL for a path with "." or ".." segments or repeated
// slashes; for a storage API "a/../b" is a mistake to report, not to
// silently turn into "b", and a redirected PUT loses its body. So dot
// segments are a 400 and repeated slashes are folded in place.
func (a *api) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		esc := r.URL.EscapedPath()
		if !strings.HasPrefix(esc, "/v1/") || (!strings.Contains(esc, "//") && !hasDotSegment(esc)) {
			next.ServeHTTP(w, r)
			return
		}
		if hasDotSegment(esc) {
			// Report the namespace part of the path, as the handlers do.
			p := r.URL.Path
			for _, prefix := range []string{"/v1/files/", "/v1/stat/", "/v1/locations/"} {
				if rest, ok := strings.CutPrefix(p, prefix); ok {
					p = "/" + rest
					break
				}
			}
			if _, err := cairn.CleanPath(p); err != nil {
				a.fail(w, r, err)
				return
			}
			a.fail(w, r, cairn.E("path", cairn.Invalid, fmt.Errorf("path %q has . or .. segments", r.URL.Path)))
			return
		}
		u := *r.URL
		u.Path = foldSlashes(u.Path)
		u.RawPath = foldSlashes(u.RawPath)
		r2 := *r
		r2.URL = &u
		next.ServeHTTP(w, &r2)
	})
}

func hasDotSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

func foldSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}

// nsPath returns the request's namespace path, validated and canonical.
func nsPath(r *http.Request) (string, error) {
	return cairn.CleanPath("/" + r.PathValue("path"))
}

// fail writes err with its kind's status and logs it.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	level := slog.LevelDebug
	if st := cairnhttp.Status(err); st >= 500 {
		level = slog.LevelError
	}
	a.log.Log(r.Context(), level, "http api request failed", "method", r.Method, "url", r.URL.String(), "err", err)
	cairnhttp.WriteError(w, err)
}

// writeJSON writes v with the given status.
func (a *api) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		a.log.Debug("http api: writing response", "err", err)
	}
}

// boolParam parses an optional boolean query parameter ("1", "true", "0",
// "false", ...); an empty or absent value is def.
func boolParam(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, cairn.E("query", cairn.Invalid, fmt.Errorf("parameter %s=%q is not a boolean (use 1 or 0)", name, v))
	}
	return b, nil
}

// intParam parses an optional integer query parameter.
func intParam(q url.Values, name string, def int64) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, cairn.E("query", cairn.Invalid, fmt.Errorf("parameter %s=%q is not an integer", name, v))
	}
	return n, nil
}

// errInvalid builds an Invalid error for a bad request.
func errInvalid(op, format string, args ...any) error {
	return cairn.E(op, cairn.Invalid, fmt.Errorf(format, args...))
}
