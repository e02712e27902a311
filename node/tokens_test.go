package node

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/token"
)

// peer is the TLS state of a caller whose verified certificate names
// role/name.
func peer(role pki.Role, name string) *tls.ConnectionState {
	u := &url.URL{Scheme: "cairn", Host: string(role), Path: "/" + name}
	return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{URIs: []*url.URL{u}}}}}
}

// TestTokenedRoutes: the wrapper of the user-facing chunk routes, before
// and after the node learns the keys, for users, nodes and callers
// without a certificate.
func TestTokenedRoutes(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &dataServer{cfg: &Config{TLS: &pki.Source{}}, metrics: newMetrics(prometheus.NewRegistry()),
		tokens: token.NewVerifier(16, time.Second)}
	h := d.tokened(token.Read)(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	id := cairn.NewChunkID()
	good, err := token.Mint(token.Claims{Op: token.Read, KeyID: 5, Expiry: time.Now().Add(time.Minute), Chunks: []cairn.ChunkID{id}}, priv)
	if err != nil {
		t.Fatal(err)
	}
	call := func(cs *tls.ConnectionState, tok string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/v1/chunks/"+id.String(), nil)
		r.SetPathValue("id", id.String())
		r.TLS = cs
		if tok != "" {
			r.Header.Set(cairnhttp.HeaderToken, tok)
		}
		w := httptest.NewRecorder()
		h(w, r)
		return w
	}
	enc := base64.RawURLEncoding.EncodeToString(good)
	w := call(peer(pki.User, "alice"), enc)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "not yet learned") {
		t.Errorf("before any keys: %d %q (Retry-After %q), want a retryable 503 saying why", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	setTokenKeys(d.tokens, []*pb.TokenKey{{Id: 5, PublicKey: pub}})
	for _, tc := range []struct {
		name string
		cs   *tls.ConnectionState
		tok  string
		want int
		says string
	}{
		{"a user with a token", peer(pki.User, "alice"), enc, http.StatusOK, ""},
		{"a data node without one", peer(pki.Node, "node-1"), "", http.StatusOK, ""},
		{"a metadata peer without one", peer(pki.Meta, "meta"), "", http.StatusOK, ""},
		{"an admin without one", peer(pki.Admin, "root"), "", http.StatusForbidden, string(token.Missing)},
		{"a user with a token that is not base64url", peer(pki.User, "alice"), "!!!", http.StatusForbidden, string(token.Malformed)},
		{"no certificate", nil, enc, http.StatusForbidden, "certificate"},
	} {
		w := call(tc.cs, tc.tok)
		if w.Code != tc.want || !strings.Contains(w.Body.String(), tc.says) {
			t.Errorf("%s: %d %q, want %d saying %q", tc.name, w.Code, w.Body, tc.want, tc.says)
		}
	}
}
