// Package secrets seals the secrets the metadata service keeps (S3 secret
// keys) under a cluster key that every metadata peer loads from a file
// (a Kubernetes Secret, or `cairn cert create-key`), so that neither the
// Raft log, nor the state store, nor a snapshot holds them in clear.
//
// A sealed secret is the text
//
//	sealed:v1:<key id>:<base64url(nonce || AES-256-GCM ciphertext)>
//
// where the key id is the first 8 bytes of the key's SHA-256 in hex (so
// a peer with the wrong key says so instead of failing to decrypt) and
// the additional data is the access key, so a sealed secret cannot be
// moved to another key. Text without the prefix is a secret stored before
// the cluster had a key; Open returns it unchanged.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cairnfs/cairn/internal/keyfile"
)

const prefix = "sealed:v1:"

// KeySize is the cluster key's length in bytes (AES-256).
const KeySize = 32

// Sealer seals secrets under one cluster key and opens them with it, or
// with the keys it replaces while they are being rotated out (WithOld).
type Sealer struct {
	aead cipher.AEAD
	id   string
	old  []*Sealer // keys that only open (a rotation in progress)
}

// New returns a sealer for a KeySize-byte key.
func New(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("the secrets key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &Sealer{aead: aead, id: hex.EncodeToString(sum[:8])}, nil
}

// Load reads a key file: 64 hex digits (surrounding white space ignored).
func Load(path string) (*Sealer, error) {
	key, err := keyfile.Read(path, "the secrets key", "create one with `cairn cert create-key --out FILE`", false)
	if err != nil {
		return nil, err
	}
	return New(key)
}

// NewKeyFile writes a new random key to path (mode 0600), refusing to
// replace one.
func NewKeyFile(path string) error { return keyfile.Create(path, "a secrets key") }

// ID identifies the key (not secret).
func (s *Sealer) ID() string { return s.id }

// WithOld returns a sealer that seals with s's key and opens what s
// opens and what old opens: a peer in the middle of a key rotation
// (--secrets-old-key-file), until every stored secret is resealed under
// the new key. An old key equal to s's is ignored.
func (s *Sealer) WithOld(old ...*Sealer) *Sealer {
	out := *s
	out.old = slices.Clone(s.old)
	for _, o := range old {
		if o != nil && o.id != s.id {
			out.old = append(out.old, o)
		}
	}
	return &out
}

// Current reports whether text is sealed under s's key (the key new
// secrets are sealed with): false for text in clear, for text sealed
// under an old key and for a nil s.
func (s *Sealer) Current(text string) bool {
	if s == nil || !IsSealed(text) {
		return false
	}
	id, _, _ := strings.Cut(strings.TrimPrefix(text, prefix), ":")
	return id == s.id
}

// opener returns the key of s (or one of its old keys) with ID id.
func (s *Sealer) opener(id string) *Sealer {
	if id == s.id {
		return s
	}
	for _, o := range s.old {
		if o.id == id {
			return o
		}
	}
	return nil
}

// Seal seals secret, bound to the access key it belongs to.
func (s *Sealer) Seal(accessKey, secret string) string {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	out := s.aead.Seal(nonce, nonce, []byte(secret), []byte(accessKey))
	return prefix + s.id + ":" + base64.RawURLEncoding.EncodeToString(out)
}

// IsSealed reports whether text is in the sealed form (it does not check
// that it opens).
func IsSealed(text string) bool { return strings.HasPrefix(text, prefix) }

// MaxSealedLen bounds a sealed secret of up to 128 bytes.
const MaxSealedLen = 256

// Open returns the secret text seals for accessKey. Text that is not
// sealed is returned as it is. A sealed text needs the key it was sealed
// with: s nil, another key, or altered text are errors that say which.
func Open(s *Sealer, accessKey, text string) (string, error) {
	if !IsSealed(text) {
		return text, nil
	}
	id, body, ok := strings.Cut(strings.TrimPrefix(text, prefix), ":")
	if !ok {
		return "", errors.New("malformed sealed secret")
	}
	if s == nil {
		return "", fmt.Errorf("the secret is sealed with key %s and this metadata peer has no secrets key; start it with --secrets-key-file", id)
	}
	k := s.opener(id)
	if k == nil {
		if len(s.old) > 0 {
			return "", fmt.Errorf("the secret is sealed with key %s, this metadata peer has key %s and old keys %s; give every peer the same --secrets-key-file (and, while rotating, --secrets-old-key-file)", id, s.id, s.oldIDs())
		}
		return "", fmt.Errorf("the secret is sealed with key %s, this metadata peer has key %s; give every peer the same --secrets-key-file (after a key rotation, the old key as --secrets-old-key-file until `cairn admin reseal-secrets` has run)", id, s.id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize() {
		return "", errors.New("malformed sealed secret")
	}
	plain, err := k.aead.Open(nil, raw[:k.aead.NonceSize()], raw[k.aead.NonceSize():], []byte(accessKey))
	if err != nil {
		return "", fmt.Errorf("the sealed secret of %s does not open with key %s: it was altered", accessKey, k.id)
	}
	return string(plain), nil
}

// oldIDs lists the IDs of the old keys.
func (s *Sealer) oldIDs() string {
	ids := make([]string, len(s.old))
	for i, o := range s.old {
		ids[i] = o.id
	}
	return strings.Join(ids, ", ")
}

// Keys seals the metadata service's token signing keys with the same
// cluster key (it is a keyring.Sealer). Keys stored before the cluster
// had a secrets key (sealing "") still open.
type Keys struct{ S *Sealer }

// keysSealing names this sealing in a stored signing key.
const keysSealing = "secrets-v1"

// keysAAD binds a sealed signing key to its use.
const keysAAD = "token-signing-key"

// Seal seals a signing key's seed.
func (k Keys) Seal(seed []byte) ([]byte, string, error) {
	return []byte(k.S.Seal(keysAAD, string(seed))), keysSealing, nil
}

// Current reports whether a stored signing key is sealed under the
// current key (false for one stored unsealed, or under an old key).
func (k Keys) Current(sealed []byte, sealing string) bool {
	return sealing == keysSealing && k.S.Current(string(sealed))
}

// Open returns a signing key's seed.
func (k Keys) Open(sealed []byte, sealing string) ([]byte, error) {
	switch sealing {
	case "":
		return sealed, nil
	case keysSealing:
		seed, err := Open(k.S, keysAAD, string(sealed))
		return []byte(seed), err
	}
	return nil, fmt.Errorf("the signing key is sealed with %q, which this peer cannot open", sealing)
}
