package node

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/token"
)

// tokenCache is how many verified tokens a node remembers: with a token
// per 256 chunks, enough for the reads and writes of many clients at once.
const tokenCache = 4096

// tokened returns the wrapper of the user-facing chunk routes (PUT, GET,
// HEAD, verify). Metadata peers and data nodes pass on their certificate
// alone (a write forwarded down the chain, a repair pull); any other
// identity needs a capability token (header Cairn-Token, base64url) that
// allows op on the chunk in the path, minted by the metadata leader.
// Refusals are Permission (403) naming what was wrong, or a retryable
// Unavailable (503) while the node knows no token keys yet. Without TLS
// (--insecure) everything is let through.
func (d *dataServer) tokened(op token.Op) func(http.HandlerFunc) http.HandlerFunc {
	return func(h http.HandlerFunc) http.HandlerFunc {
		if d.cfg.TLS == nil {
			return h
		}
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := pki.PeerIdentity(r.TLS)
			if err != nil {
				err = cairn.E("node.authorize", cairn.Permission, err)
			} else if !id.HasAny(pki.Meta, pki.Node) {
				err = d.checkToken(r, op)
			}
			if err != nil {
				if cairn.KindOf(err) == cairn.Unavailable {
					w.Header().Set("Retry-After", "1")
				}
				d.metrics.tokenRefusals.WithLabelValues(refusalReason(err)).Inc()
				cairnhttp.WriteError(w, err)
				return
			}
			h(w, r)
		}
	}
}

// checkToken checks the request's token against op and its chunk.
func (d *dataServer) checkToken(r *http.Request, op token.Op) error {
	const opName = "node.authorize"
	chunk, err := cairn.ParseChunkID(r.PathValue("id"))
	if err != nil {
		return cairn.E(opName, err)
	}
	var tok []byte
	if h := r.Header.Get(cairnhttp.HeaderToken); h != "" {
		if tok, err = base64.RawURLEncoding.DecodeString(h); err != nil {
			return cairn.E(opName, cairn.PathArg(chunk.String()), cairn.Permission,
				&token.Error{Reason: token.Malformed, Detail: fmt.Sprintf("%s is not base64url: %v", cairnhttp.HeaderToken, err)})
		}
	}
	if err := d.tokens.Verify(tok, op, chunk, time.Now()); err != nil {
		return cairn.E(opName, cairn.PathArg(chunk.String()), err)
	}
	return nil
}

// refusalReason names why a request was refused, for the metrics.
func refusalReason(err error) string {
	var te *token.Error
	switch {
	case errors.As(err, &te):
		return string(te.Reason)
	case errors.Is(err, token.ErrNoKeys):
		return "no keys yet"
	case cairn.KindOf(err) == cairn.Permission:
		return "certificate"
	}
	return cairn.KindOf(err).String()
}

// setTokenKeys hands the verifier the keys the metadata leader answered
// with. An empty set (a leader without TLS) changes nothing.
func setTokenKeys(v *token.Verifier, keys []*pb.TokenKey) {
	if v == nil || len(keys) == 0 {
		return
	}
	out := make([]token.Key, 0, len(keys))
	for _, k := range keys {
		tk := token.Key{ID: k.Id, Public: ed25519.PublicKey(k.PublicKey)}
		if k.ExpiresNs != 0 {
			tk.Expiry = time.Unix(0, k.ExpiresNs)
		}
		out = append(out, tk)
	}
	v.SetKeys(out)
}
