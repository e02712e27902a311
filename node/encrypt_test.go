package node_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/volume"
)

// TestRestartWithoutEncryptionKeyRefused: a node whose volumes are
// encrypted does not start without its key, or with another one, and says
// which volume needs which key and what to do; with the key it serves the
// chunk again.
func TestRestartWithoutEncryptionKeyRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	key := bytes.Repeat([]byte{7}, volume.EncryptionKeySize)
	start := func(k []byte) (*node.Node, error) {
		n, err := node.New(node.Config{Dir: dir, Advertise: "127.0.0.1:1", Meta: []string{deadAddr(t)},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Volume: volume.Options{EncryptionKey: k}})
		if err != nil {
			t.Fatal(err)
		}
		return n, n.Start(context.Background())
	}
	n, err := start(key)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Store().Encrypted() {
		t.Fatal("the store of a node with a key does not encrypt")
	}
	var id cairn.ChunkID
	id[0] = 1
	data := []byte("a chunk stored encrypted")
	if err := n.Store().Put(context.Background(), id, data, checksum.CRC32C(data)); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string][]byte{"no key": nil, "another key": bytes.Repeat([]byte{8}, volume.EncryptionKeySize)} {
		n, err := start(k)
		if err == nil {
			n.Close()
			t.Fatalf("%s: the node started", name)
		}
		for _, want := range []string{"00000001.vol", "--encryption-key-file", volume.KeyID(key)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the error does not say %q: %v", name, want, err)
			}
		}
	}
	n, err = start(key)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got := make([]byte, len(data))
	if _, err := n.Store().ReadAt(id, got, 0); err != nil && err != io.EOF || !bytes.Equal(got, data) {
		t.Fatalf("read after restart with the key: %q, %v", got, err)
	}
}
