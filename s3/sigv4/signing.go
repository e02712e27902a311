package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
)

const (
	algorithm      = "AWS4-HMAC-SHA256"
	serviceS3      = "s3"
	terminator     = "aws4_request"
	amzDateFormat  = "20060102T150405Z"
	scopeDateForm  = "20060102"
	emptySHA256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// deriveKey computes the SigV4 signing key for an S3 scope.
func deriveKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, serviceS3)
	return hmacSHA256(k, terminator)
}

// maxCachedKeys bounds the signing-key cache; when it is exceeded the cache
// is emptied (keys are cheap to re-derive, and a day's working set of access
// keys and regions is normally far smaller).
const maxCachedKeys = 4096

type cacheKey struct{ accessKey, date, region string }

type cachedKey struct {
	secret string // the secret the key was derived from
	key    []byte
}

// keyCache caches derived signing keys. The zero value is ready to use.
type keyCache struct {
	m sync.Map // cacheKey -> *cachedKey
	n atomic.Int64
}

// get returns the signing key for the scope, derived or cached, and whether
// it came from the cache. A cached key derived from another secret (the
// secret was rotated) is not used.
func (c *keyCache) get(accessKey, secret, date, region string) ([]byte, bool) {
	if v, ok := c.m.Load(cacheKey{accessKey, date, region}); ok {
		if e := v.(*cachedKey); e.secret == secret {
			return e.key, true
		}
	}
	return deriveKey(secret, date, region), false
}

// put caches a key; called only once a signature made with it verified, so
// that requests with bad signatures cannot churn the cache.
func (c *keyCache) put(accessKey, secret, date, region string, key []byte) {
	if c.n.Add(1) > maxCachedKeys {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(cacheKey{accessKey, date, region}, &cachedKey{secret: secret, key: key})
}

// stringToSign returns the SigV4 string to sign for a canonical request.
func stringToSign(amzDate, scope string, canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// signatureMatches reports whether hex(HMAC(key, sts)) equals given, in
// constant time.
func signatureMatches(key []byte, sts, given string) bool {
	var buf [64]byte
	hex.Encode(buf[:], hmacSHA256(key, sts))
	return hmac.Equal(buf[:], []byte(given))
}
