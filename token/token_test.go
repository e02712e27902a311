package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
)

var now = time.UnixMilli(1_800_000_000_000)

func newKey(t testing.TB, id uint32) (Key, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Key{ID: id, Public: pub}, priv
}

func chunks(n int) []cairn.ChunkID {
	out := make([]cairn.ChunkID, n)
	for i := range out {
		out[i] = cairn.NewChunkID()
	}
	return out
}

func mint(t testing.TB, c Claims, priv ed25519.PrivateKey) []byte {
	tok, err := Mint(c, priv)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// reason returns why err refused a token ("" if it is not a refusal).
func reason(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func TestRoundTrip(t *testing.T) {
	_, priv := newKey(t, 7)
	c := Claims{Op: Write, KeyID: 7, Expiry: now, User: "alice", Chunks: chunks(3)}
	tok := mint(t, c, priv)
	if want := headerLen + len("alice") + 2 + 3*16 + sigLen; len(tok) != want {
		t.Errorf("token of %d bytes, want %d", len(tok), want)
	}
	got, _, _, err := Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != c.Op || got.KeyID != c.KeyID || !got.Expiry.Equal(c.Expiry) || got.User != c.User || len(got.Chunks) != 3 {
		t.Fatalf("parsed %+v, want %+v", got, c)
	}
	for i := range c.Chunks {
		if got.Chunks[i] != c.Chunks[i] {
			t.Errorf("chunk %d: %s, want %s", i, got.Chunks[i], c.Chunks[i])
		}
	}
}

func TestMintRefusesWhatTheFormatCannotCarry(t *testing.T) {
	_, priv := newKey(t, 1)
	for name, c := range map[string]Claims{
		"no op":     {KeyID: 1, Expiry: now, Chunks: chunks(1)},
		"no chunks": {Op: Read, KeyID: 1, Expiry: now},
		"long user": {Op: Read, KeyID: 1, Expiry: now, User: string(make([]byte, 256)), Chunks: chunks(1)},
	} {
		if _, err := Mint(c, priv); !errors.Is(err, cairn.Invalid) {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}

func TestVerify(t *testing.T) {
	k, priv := newKey(t, 1)
	other, otherPriv := newKey(t, 2)
	ids := chunks(3)
	v := NewVerifier(16, time.Second)
	read := mint(t, Claims{Op: Read, KeyID: 1, Expiry: now.Add(time.Minute), Chunks: ids}, priv)
	if err := v.Verify(read, Read, ids[0], now); !errors.Is(err, cairn.Unavailable) || !errors.Is(err, ErrNoKeys) {
		t.Fatalf("before any keys: %v, want Unavailable ErrNoKeys", err)
	}
	v.SetKeys([]Key{k})
	forged := mint(t, Claims{Op: Read, KeyID: 1, Expiry: now.Add(time.Minute), Chunks: ids}, otherPriv)
	unknown := mint(t, Claims{Op: Read, KeyID: 2, Expiry: now.Add(time.Minute), Chunks: ids}, otherPriv)
	for _, tc := range []struct {
		name  string
		tok   []byte
		op    Op
		chunk cairn.ChunkID
		at    time.Time
		want  Reason
	}{
		{"good", read, Read, ids[2], now, ""},
		{"good, cached", read, Read, ids[1], now, ""},
		{"within skew", read, Read, ids[0], now.Add(time.Minute + time.Second), ""},
		{"missing", nil, Read, ids[0], now, Missing},
		{"expired", read, Read, ids[0], now.Add(time.Minute + 2*time.Second), Expired},
		{"wrong op", read, Write, ids[0], now, WrongOp},
		{"wrong chunk", read, Read, cairn.NewChunkID(), now, WrongChunk},
		{"unknown key", unknown, Read, ids[0], now, UnknownKey},
		{"bad signature", forged, Read, ids[0], now, BadSignature},
		{"garbage", []byte("hello"), Read, ids[0], now, Malformed},
	} {
		err := v.Verify(tc.tok, tc.op, tc.chunk, tc.at)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, cairn.Permission) || reason(err) != tc.want {
			t.Errorf("%s: %v, want Permission (%s)", tc.name, err, tc.want)
		}
	}
	// A retired key still verifies its tokens, but none that claims to
	// outlive it; a removed key verifies nothing, cached or not.
	k.Expiry = now.Add(30 * time.Second)
	v.SetKeys([]Key{k, other})
	if err := v.Verify(read, Read, ids[0], now); reason(err) != Expired {
		t.Errorf("token outliving its key: %v, want Expired", err)
	}
	short := mint(t, Claims{Op: Read, KeyID: 1, Expiry: now.Add(10 * time.Second), Chunks: ids}, priv)
	if err := v.Verify(short, Read, ids[0], now); err != nil {
		t.Errorf("token of a retired key: %v", err)
	}
	v.SetKeys([]Key{other})
	if err := v.Verify(short, Read, ids[0], now); reason(err) != UnknownKey {
		t.Errorf("token of a removed key: %v, want UnknownKey", err)
	}
}

// TestTamper flips every bit of a token: each must be refused.
func TestTamper(t *testing.T) {
	k, priv := newKey(t, 9)
	ids := chunks(2)
	tok := mint(t, Claims{Op: Read, KeyID: 9, Expiry: now.Add(time.Hour), User: "bob", Chunks: ids}, priv)
	for i := range tok {
		for bit := range 8 {
			bad := append([]byte(nil), tok...)
			bad[i] ^= 1 << bit
			v := NewVerifier(4, 0) // fresh: no cached good token
			v.SetKeys([]Key{k})
			if err := v.Verify(bad, Read, ids[0], now); !errors.Is(err, cairn.Permission) {
				t.Fatalf("byte %d bit %d flipped: %v, want Permission", i, bit, err)
			}
		}
	}
	v := NewVerifier(4, 0)
	v.SetKeys([]Key{k})
	for _, bad := range [][]byte{tok[:len(tok)-1], append(append([]byte(nil), tok...), 0)} {
		if err := v.Verify(bad, Read, ids[0], now); reason(err) != Malformed {
			t.Errorf("token of %d bytes: %v, want Malformed", len(bad), err)
		}
	}
}

func TestCacheIsBounded(t *testing.T) {
	k, priv := newKey(t, 1)
	v := NewVerifier(4, 0)
	v.SetKeys([]Key{k})
	for range 10 {
		id := cairn.NewChunkID()
		tok := mint(t, Claims{Op: Write, KeyID: 1, Expiry: now.Add(time.Hour), Chunks: []cairn.ChunkID{id}}, priv)
		if err := v.Verify(tok, Write, id, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.Len(); n != 4 {
		t.Errorf("cache holds %d, want 4", n)
	}
}

func FuzzParse(f *testing.F) {
	_, priv := newKey(f, 3)
	f.Add(mint(f, Claims{Op: Read, KeyID: 3, Expiry: now, User: "u", Chunks: chunks(2)}, priv))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, signed, sig, err := Parse(b)
		if err != nil {
			return
		}
		if len(signed)+len(sig) != len(b) || len(c.Chunks) == 0 {
			t.Fatalf("parsed %d+%d of %d bytes, %d chunks", len(signed), len(sig), len(b), len(c.Chunks))
		}
	})
}

func BenchmarkMint(b *testing.B) {
	_, priv := newKey(b, 1)
	c := Claims{Op: Write, KeyID: 1, Expiry: now, User: "alice", Chunks: chunks(1)}
	for b.Loop() {
		if _, err := Mint(c, priv); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k, priv := newKey(b, 1)
	ids := chunks(1)
	tok := mint(b, Claims{Op: Read, KeyID: 1, Expiry: now.Add(time.Hour), Chunks: ids}, priv)
	b.Run("uncached", func(b *testing.B) {
		v := NewVerifier(1, 0)
		v.SetKeys([]Key{k})
		for b.Loop() {
			v.cache.Remove(sha256.Sum256(tok))
			if err := v.Verify(tok, Read, ids[0], now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		v := NewVerifier(1, 0)
		v.SetKeys([]Key{k})
		for b.Loop() {
			if err := v.Verify(tok, Read, ids[0], now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
