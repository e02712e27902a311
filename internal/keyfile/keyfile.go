// Package keyfile reads and creates the 32-byte key files Cairn's
// processes load at start: the metadata service's secrets key
// (--secrets-key-file) and the data nodes' encryption key
// (--encryption-key-file). A key file holds 64 hex digits and a newline.
package keyfile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Size is the length of a key in bytes (AES-256).
const Size = 32

// Read returns the key in the file at path. what names the key in errors
// (for example "the encryption key") and hint says how to create one. With
// private set, a file that other users may read or write, or its group
// write, is refused: a key anyone on the host can read protects nothing.
// Group read is allowed, as for TLS keys (package pki): Kubernetes mounts
// a Secret root-owned with the pod's fsGroup, mode 0440.
func Read(path, what, hint string, private bool) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (%s)", what, err, hint)
	}
	if private && fi.Mode().Perm()&0o027 != 0 {
		return nil, fmt.Errorf("%s: %s file has mode %04o, which lets other users read or change it; run `chmod 600 %s` (or 400, or 440 for a group of readers)",
			path, what, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w (%s)", what, err, hint)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err == nil && len(key) != Size {
		err = fmt.Errorf("%d bytes", len(key))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s must be %d hex digits: %v (%s)", path, what, 2*Size, err, hint)
	}
	return key, nil
}

// Create writes a new random key to path with mode 0600, refusing to
// replace an existing file; what names the key in errors.
func Create(path, what string) error {
	key := make([]byte, Size)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists already; refusing to replace %s (what it protects would be lost)", path, what)
		}
		return err
	}
	if _, err := fmt.Fprintln(f, hex.EncodeToString(key)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
