// Package token is the format of the capability tokens data nodes demand
// for user-facing chunk requests (HDFS's block access tokens, signed with
// Ed25519 instead of a shared secret): the metadata leader mints them with
// Mint, data nodes check them with a Verifier against the public keys the
// leader hands out. It imports the root package's vocabulary and
// internal/lru.
//
// A token is compact binary, sent base64url-encoded (no padding) in the
// Cairn-Token header (docs/protocol.md):
//
//	offset  size  field
//	0       1     version, 1
//	1       1     operation: 1 read (GET, HEAD, verify), 2 write (PUT)
//	2       4     key ID, big-endian
//	6       8     expiry, Unix milliseconds, big-endian
//	14      1     length u of the user name (0: none)
//	15      u     user name
//	15+u    2     number n of chunk IDs, big-endian, 1..65535
//	17+u    16n   chunk IDs
//	17+u+16n 64   Ed25519 signature of "cairn-token\x00" followed by every byte above
package token

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cairnfs/cairn"
)

// Version is the token format this package writes and reads.
const Version = 1

// Op is what a token allows.
type Op uint8

// The operations.
const (
	Read  Op = 1 // GET, HEAD and POST .../verify of its chunks
	Write Op = 2 // PUT of its chunks
)

func (o Op) String() string {
	switch o {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// MaxChunks is the most chunk IDs one token may cover.
const MaxChunks = 1<<16 - 1

// signContext prefixes the signed bytes, so that a token signature can
// never be taken for a signature of anything else made with the same key.
const signContext = "cairn-token\x00"

const (
	headerLen = 15 // version, op, key ID, expiry, user length
	sigLen    = ed25519.SignatureSize
)

// Claims are what a token says.
type Claims struct {
	Op     Op
	KeyID  uint32
	Expiry time.Time // millisecond precision
	User   string    // at most 255 bytes; "" = not named
	Chunks []cairn.ChunkID
}

// Mint encodes c and signs it with priv, which must be the key c.KeyID
// names. It fails (Invalid) on claims the format cannot carry.
func Mint(c Claims, priv ed25519.PrivateKey) ([]byte, error) {
	if c.Op != Read && c.Op != Write {
		return nil, cairn.E("token.mint", cairn.Invalid, fmt.Errorf("unknown operation %v", c.Op))
	}
	if len(c.User) > 255 {
		return nil, cairn.E("token.mint", cairn.Invalid, fmt.Errorf("user name of %d bytes: at most 255", len(c.User)))
	}
	if len(c.Chunks) == 0 || len(c.Chunks) > MaxChunks {
		return nil, cairn.E("token.mint", cairn.Invalid, fmt.Errorf("%d chunks: a token covers 1 to %d", len(c.Chunks), MaxChunks))
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, cairn.E("token.mint", cairn.Invalid, errors.New("not an Ed25519 private key"))
	}
	n := len(signContext) + headerLen + len(c.User) + 2 + 16*len(c.Chunks)
	b := make([]byte, 0, n+sigLen)
	b = append(b, signContext...)
	b = append(b, Version, byte(c.Op))
	b = binary.BigEndian.AppendUint32(b, c.KeyID)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Expiry.UnixMilli()))
	b = append(b, byte(len(c.User)))
	b = append(b, c.User...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Chunks)))
	for _, id := range c.Chunks {
		b = append(b, id[:]...)
	}
	b = append(b, ed25519.Sign(priv, b)...)
	return b[len(signContext):], nil
}

// Parse decodes a token without checking its signature: the claims, the
// signed bytes and the signature. It fails (Permission) on anything
// malformed.
func Parse(tok []byte) (Claims, []byte, []byte, error) {
	bad := func(why string) (Claims, []byte, []byte, error) {
		return Claims{}, nil, nil, cairn.E("token", cairn.Permission, &Error{Reason: Malformed, Detail: why})
	}
	if len(tok) < headerLen+2+16+sigLen {
		return bad(fmt.Sprintf("%d bytes is too short", len(tok)))
	}
	if tok[0] != Version {
		return bad(fmt.Sprintf("version %d; this node reads version %d", tok[0], Version))
	}
	c := Claims{Op: Op(tok[1]), KeyID: binary.BigEndian.Uint32(tok[2:]),
		Expiry: time.UnixMilli(int64(binary.BigEndian.Uint64(tok[6:])))}
	if c.Op != Read && c.Op != Write {
		return bad(fmt.Sprintf("unknown operation %d", tok[1]))
	}
	u := int(tok[14])
	rest := tok[headerLen:]
	if len(rest) < u+2 {
		return bad("truncated user name")
	}
	c.User, rest = string(rest[:u]), rest[u:]
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if n == 0 || len(rest) != 16*n+sigLen {
		return bad(fmt.Sprintf("%d chunk IDs do not fit its length", n))
	}
	c.Chunks = make([]cairn.ChunkID, n)
	for i := range c.Chunks {
		copy(c.Chunks[i][:], rest[16*i:])
	}
	signed := tok[:len(tok)-sigLen]
	return c, signed, tok[len(tok)-sigLen:], nil
}

// Reason says why a token was refused.
type Reason string

// The reasons a Verifier refuses a token.
const (
	Missing      Reason = "missing"
	Malformed    Reason = "malformed"
	UnknownKey   Reason = "unknown key"
	BadSignature Reason = "bad signature"
	Expired      Reason = "expired"
	WrongOp      Reason = "wrong operation"
	WrongChunk   Reason = "wrong chunk"
)

// Error is a refused token: why, in words a client can act on. Errors
// carrying it have the Permission kind.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "capability token refused: " + string(e.Reason)
	}
	return "capability token refused: " + string(e.Reason) + ": " + e.Detail
}
