package secrets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnfs/cairn/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, nil) }

func TestSealOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.key")
	if err := NewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if err := NewKeyFile(path); err == nil {
		t.Fatal("an existing key was replaced")
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal("AKEY", "the-secret-key")
	if !IsSealed(sealed) || strings.Contains(sealed, "the-secret-key") || len(sealed) > MaxSealedLen {
		t.Fatalf("sealed form %q", sealed)
	}
	if s.Seal("AKEY", "the-secret-key") == sealed {
		t.Error("two seals of one secret are equal: the nonce is not fresh")
	}
	if got, err := Open(s, "AKEY", sealed); err != nil || got != "the-secret-key" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if long := s.Seal("K", strings.Repeat("x", 128)); len(long) > MaxSealedLen {
		t.Errorf("a 128-byte secret seals to %d bytes, above MaxSealedLen", len(long))
	}
	// Plain text from before the cluster had a key passes through.
	if got, err := Open(nil, "AKEY", "plain-old-secret"); err != nil || got != "plain-old-secret" {
		t.Fatalf("legacy = %q, %v", got, err)
	}
	// Refusals: no key, another key, another access key, altered text.
	if _, err := Open(nil, "AKEY", sealed); err == nil || !strings.Contains(err.Error(), "--secrets-key-file") {
		t.Errorf("no key: %v", err)
	}
	other, _ := New(make([]byte, KeySize))
	if _, err := Open(other, "AKEY", sealed); err == nil || !strings.Contains(err.Error(), "same --secrets-key-file") {
		t.Errorf("another key: %v", err)
	}
	if _, err := Open(s, "OTHER", sealed); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Errorf("moved to another access key: %v", err)
	}
	b := []byte(sealed)
	b[len(b)-3] ^= 1
	if _, err := Open(s, "AKEY", string(b)); err == nil {
		t.Error("altered text opened")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Error("a short key was accepted")
	}
	if err := os.WriteFile(path, []byte("not hex"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "hex digits") {
		t.Errorf("a bad key file: %v", err)
	}
}

func TestKeys(t *testing.T) {
	s, err := New(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	seed := []byte{0, 1, 2, 255, 254, 10, 13}
	sealed, sealing, err := Keys{s}.Seal(seed)
	if err != nil || sealing == "" || strings.Contains(string(sealed), string(seed)) {
		t.Fatalf("Seal = %q, %q, %v", sealed, sealing, err)
	}
	if got, err := (Keys{s}).Open(sealed, sealing); err != nil || string(got) != string(seed) {
		t.Fatalf("Open = %v, %v", got, err)
	}
	if got, err := (Keys{s}).Open(seed, ""); err != nil || string(got) != string(seed) {
		t.Fatalf("an unsealed key from before: %v, %v", got, err)
	}
	if _, err := (Keys{s}).Open(sealed, "rot13"); err == nil {
		t.Error("an unknown sealing opened")
	}
	other, _ := New(append(make([]byte, KeySize-1), 1))
	if _, err := (Keys{other}).Open(sealed, sealing); err == nil {
		t.Error("another key opened a sealed signing key")
	}
}

// TestWithOld: during a rotation a sealer seals with the new key and
// opens what the old key sealed; Current tells which secrets still need
// resealing; without the old key they no longer open.
func TestWithOld(t *testing.T) {
	key := func(b byte) *Sealer {
		s, err := New([]byte(strings.Repeat(string(rune(b)), KeySize)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	oldKey, newKey, stranger := key('o'), key('n'), key('s')
	before := oldKey.Seal("AKEY", "the-secret")
	rot := newKey.WithOld(oldKey, nil, newKey)
	if got, err := Open(rot, "AKEY", before); err != nil || got != "the-secret" {
		t.Fatalf("the rotating sealer opens the old seal as %q, %v", got, err)
	}
	after := rot.Seal("AKEY", "the-secret")
	if !newKey.Current(after) || rot.Current(before) || !rot.Current(after) {
		t.Errorf("Current: new seal %v, old seal %v", rot.Current(after), rot.Current(before))
	}
	if rot.Current("in-clear") || (*Sealer)(nil).Current(after) {
		t.Error("text in clear, or a nil sealer, counts as current")
	}
	if got, err := Open(newKey, "AKEY", after); err != nil || got != "the-secret" {
		t.Fatalf("the new key alone opens the new seal as %q, %v", got, err)
	}
	if _, err := Open(newKey, "AKEY", before); err == nil || !strings.Contains(err.Error(), "--secrets-old-key-file") {
		t.Errorf("the new key alone opened the old seal, or did not say what to do: %v", err)
	}
	if _, err := Open(stranger.WithOld(newKey), "AKEY", before); err == nil || !strings.Contains(err.Error(), oldKey.ID()) {
		t.Errorf("a sealer with neither key: %v, want an error naming key %s", err, oldKey.ID())
	}
	if len(newKey.old) != 0 {
		t.Error("WithOld changed the sealer it was called on")
	}
}
