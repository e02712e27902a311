package token

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/lru"
)

// Key is a public key tokens are verified with.
type Key struct {
	ID     uint32
	Public ed25519.PublicKey
	// Expiry is when the last token the key signed expires; zero while the
	// key still signs. A token that claims to outlive its key is refused.
	Expiry time.Time
}

// ErrNoKeys is the (Unavailable) cause of every refusal before the first
// SetKeys: the node has not heard from the metadata leader yet.
var ErrNoKeys = errors.New("this data node has not yet learned the token keys from the metadata leader; retry shortly")

// Verifier checks tokens against the keys it was given, remembering the
// tokens whose signatures it checked (a bounded LRU keyed by the SHA-256
// of the token) so that repeated requests with one token cost a hash and a
// map lookup. It is safe for concurrent use.
type Verifier struct {
	skew  time.Duration
	cache *lru.Cache[[sha256.Size]byte, *entry]

	mu   sync.Mutex
	keys map[uint32]Key // nil until SetKeys
}

// entry is a token whose signature verified.
type entry struct {
	keyID  uint32
	op     Op
	expiry time.Time
	chunks []cairn.ChunkID // sorted
}

// NewVerifier returns a Verifier that remembers up to cacheSize verified
// tokens and accepts a token up to skew after its expiry (clocks differ).
func NewVerifier(cacheSize int, skew time.Duration) *Verifier {
	return &Verifier{skew: skew, cache: lru.New[[sha256.Size]byte, *entry](cacheSize)}
}

// SetKeys replaces the known keys. Tokens of keys no longer among them
// are refused from now on, cached or not.
func (v *Verifier) SetKeys(keys []Key) {
	m := make(map[uint32]Key, len(keys))
	for _, k := range keys {
		if len(k.Public) == ed25519.PublicKeySize {
			m[k.ID] = k
		}
	}
	v.mu.Lock()
	v.keys = m
	v.mu.Unlock()
}

// Keys returns the number of known keys.
func (v *Verifier) Keys() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.keys)
}

// Verify checks that tok allows op on chunk at now. It returns the
// token.s claims, or an error: Unavailable (ErrNoKeys) before the first
// SetKeys, else Permission with an *Error that names the reason.
func (v *Verifier) Verify(tok []byte, op Op, chunk cairn.ChunkID, now time.Time) error {
	const opName = "token.verify"
	if len(tok) == 0 {
		return cairn.E(opName, cairn.Permission, &Error{Reason: Missing, Detail: "user requests to data nodes need the token the metadata service handed out with the chunk's locations (header Cairn-Token)"})
	}
	v.mu.Lock()
	keys := v.keys
	v.mu.Unlock()
	if keys == nil {
		return cairn.E(opName, cairn.Unavailable, ErrNoKeys)
	}
	h := sha256.Sum256(tok)
	e, ok := v.cache.Get(h)
	if !ok {
		var err error
		if e, err = check(tok, keys); err != nil {
			return err
		}
		v.cache.Add(h, e)
	}
	return e.allows(keys, op, chunk, now, v.skew)
}

// check parses tok and verifies its signature under keys.
func check(tok []byte, keys map[uint32]Key) (*entry, error) {
	c, signed, sig, err := Parse(tok)
	if err != nil {
		return nil, err
	}
	k, ok := keys[c.KeyID]
	if !ok {
		return nil, refuse(UnknownKey, fmt.Sprintf("key %d is not one the metadata service signs with (or it was retired long ago)", c.KeyID))
	}
	msg := make([]byte, 0, len(signContext)+len(signed))
	msg = append(append(msg, signContext...), signed...)
	if !ed25519.Verify(k.Public, msg, sig) {
		return nil, refuse(BadSignature, fmt.Sprintf("not signed by key %d", c.KeyID))
	}
	slices.SortFunc(c.Chunks, func(a, b cairn.ChunkID) int { return bytes.Compare(a[:], b[:]) })
	return &entry{keyID: c.KeyID, op: c.Op, expiry: c.Expiry, chunks: c.Chunks}, nil
}

// allows checks a verified token's claims against a request.
func (e *entry) allows(keys map[uint32]Key, op Op, chunk cairn.ChunkID, now time.Time, skew time.Duration) error {
	k, ok := keys[e.keyID]
	if !ok {
		return refuse(UnknownKey, fmt.Sprintf("key %d was retired and its tokens have expired", e.keyID))
	}
	if !k.Expiry.IsZero() && e.expiry.After(k.Expiry) {
		return refuse(Expired, fmt.Sprintf("it claims to outlive its key %d", e.keyID))
	}
	if now.After(e.expiry.Add(skew)) {
		return refuse(Expired, fmt.Sprintf("expired at %s; ask the metadata service again", e.expiry.UTC().Format(time.RFC3339Nano)))
	}
	if e.op != op {
		return refuse(WrongOp, fmt.Sprintf("a %v token does not allow a %v", e.op, op))
	}
	if _, ok := slices.BinarySearchFunc(e.chunks, chunk, func(a, b cairn.ChunkID) int { return bytes.Compare(a[:], b[:]) }); !ok {
		return refuse(WrongChunk, fmt.Sprintf("it does not cover chunk %s", chunk))
	}
	return nil
}

func refuse(r Reason, detail string) error {
	return cairn.E("token.verify", cairn.Permission, &Error{Reason: r, Detail: detail})
}
