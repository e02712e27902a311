package keyring

import (
	"crypto/sha256"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/lru"
	"github.com/cairnfs/cairn/token"
)

// recentTokens is how many minted tokens a Keyring remembers for reuse.
const recentTokens = 4096

// recent is a bounded LRU of minted tokens, keyed by what they allow
// (reuseKey).
type recent struct {
	cache *lru.Cache[[sha256.Size]byte, minted]
}

// minted is a token with what decides whether it may be handed out again.
type minted struct {
	keyID  uint32
	expiry time.Time
	tok    []byte
}

func newRecent(size int) *recent {
	return &recent{cache: lru.New[[sha256.Size]byte, minted](size)}
}

// reuseKey identifies the rights a token grants.
func reuseKey(op token.Op, user string, chunks []cairn.ChunkID) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte{byte(op), byte(len(user))})
	h.Write([]byte(user))
	for _, id := range chunks {
		h.Write(id[:])
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// get returns the token remembered for key if it was signed by keyID and
// expires after notBefore; nil otherwise.
func (r *recent) get(key [sha256.Size]byte, keyID uint32, notBefore time.Time) []byte {
	m, ok := r.cache.Get(key)
	if !ok || m.keyID != keyID || !m.expiry.After(notBefore) {
		return nil
	}
	return m.tok
}

// put remembers a token for key.
func (r *recent) put(key [sha256.Size]byte, keyID uint32, expiry time.Time, tok []byte) {
	r.cache.Add(key, minted{keyID: keyID, expiry: expiry, tok: tok})
}
