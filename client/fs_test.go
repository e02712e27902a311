package client_test

import (
	"bytes"
	"context"
	"testing"
	"testing/fstest"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestFSConformance runs the standard library's io/fs conformance checks
// against the namespace.
func TestFSConformance(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{ChunkSize: 1 << 10})
	cl := c.Client()
	ctx := context.Background()
	files := map[string][]byte{
		"a.txt":         []byte("alpha"),
		"dir/b.bin":     testcluster.RandBytes(2, 3000), // three chunks
		"dir/sub/c":     {},
		"dir/sub/d.txt": []byte("delta"),
	}
	for name, data := range files {
		if _, err := cl.WriteFile(ctx, "/"+name, bytes.NewReader(data), client.WriteOptions{Parents: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Mkdir(ctx, "/empty", client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fstest.TestFS(cl.FS(ctx), "a.txt", "dir/b.bin", "dir/sub/c", "dir/sub/d.txt", "empty"); err != nil {
		t.Fatal(err)
	}
}
