package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnfs/cairn/meta/secrets"
)

// TestLoadSecretsKey: the old key of a rotation opens what it sealed
// while the new key seals; the same key given twice is refused.
func TestLoadSecretsKey(t *testing.T) {
	dir := t.TempDir()
	oldPath, newPath := filepath.Join(dir, "old.key"), filepath.Join(dir, "new.key")
	for _, p := range []string{oldPath, newPath} {
		if err := secrets.NewKeyFile(p); err != nil {
			t.Fatal(err)
		}
	}
	old, err := loadSecretsKey(oldPath, "")
	if err != nil {
		t.Fatal(err)
	}
	sealed := old.Seal("AKEY", "secret-1")
	s, err := loadSecretsKey(newPath, oldPath)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := secrets.Open(s, "AKEY", sealed); err != nil || got != "secret-1" {
		t.Fatalf("the rotating key opens the old seal as %q, %v", got, err)
	}
	if s.Current(sealed) || !s.Current(s.Seal("AKEY", "secret-1")) || s.ID() == old.ID() {
		t.Error("the rotating key does not seal with the new key")
	}
	_, err = loadSecretsKey(newPath, newPath)
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "same key") {
		t.Errorf("the same key as old and new: %v, want a usage error", err)
	}
	if _, err := loadSecretsKey(newPath, filepath.Join(dir, "missing.key")); err == nil || !strings.Contains(err.Error(), "--secrets-old-key-file") {
		t.Errorf("a missing old key: %v, want an error naming the flag", err)
	}
}
