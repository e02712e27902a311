package keyfile

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	if err := Create(path, "a test key"); err != nil {
		t.Fatal(err)
	}
	if err := Create(path, "a test key"); err == nil || !strings.Contains(err.Error(), "refusing to replace") {
		t.Fatalf("second Create: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	key, err := Read(path, "the key", "hint", true)
	if err != nil || len(key) != Size {
		t.Fatalf("Read: %d bytes, %v", len(key), err)
	}
	raw, _ := os.ReadFile(path)
	if want, _ := hex.DecodeString(strings.TrimSpace(string(raw))); !bytes.Equal(key, want) {
		t.Fatal("Read returned another key than the file holds")
	}
}

func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	good := strings.Repeat("ab", Size) + "\n"
	cases := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"readable by others", good, 0o644, "chmod 600"},
		{"group writable", good, 0o660, "chmod 600"},
		{"short", strings.Repeat("ab", 16), 0o600, "64 hex digits"},
		{"not hex", strings.Repeat("zz", Size), 0o600, "64 hex digits"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
		if err := os.WriteFile(path, []byte(c.body), c.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, c.mode) // past the umask
		if _, err := Read(path, "the key", "make one with X", true); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want an error naming the file and %q", c.name, err, c.want)
		}
	}
	// Group read (a Kubernetes Secret with fsGroup) is fine; without
	// private any mode is.
	path := filepath.Join(dir, "group-read")
	os.WriteFile(path, []byte(good), 0o440)
	os.Chmod(path, 0o440)
	if _, err := Read(path, "the key", "", true); err != nil {
		t.Errorf("0440: %v", err)
	}
	os.Chmod(filepath.Join(dir, "readable-by-others"), 0o644)
	if _, err := Read(filepath.Join(dir, "readable-by-others"), "the key", "", false); err != nil {
		t.Errorf("0644 without private: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), "the key", "make one with X", true); err == nil || !strings.Contains(err.Error(), "make one with X") {
		t.Errorf("missing file: %v", err)
	}
}
