package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/volume"
)

// randBytes is testcluster.RandBytes, short for the many call sites here.
func randBytes(seed uint64, n int) []byte { return testcluster.RandBytes(seed, n) }

func mustWrite(t testing.TB, c *client.Client, path string, data []byte) *client.FileInfo {
	t.Helper()
	fi, err := c.WriteFile(context.Background(), path, bytes.NewReader(data), client.WriteOptions{Parents: true})
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if fi.Size() != int64(len(data)) {
		t.Fatalf("write %s: size %d, want %d", path, fi.Size(), len(data))
	}
	return fi
}

func readAll(c *client.Client, path string) ([]byte, error) {
	f, err := c.Open(context.Background(), path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func mustMatch(t testing.TB, c *client.Client, path string, want []byte) {
	t.Helper()
	got, err := readAll(c, path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %s: %d bytes differ from the %d written (first diff at %d)", path, len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// smallName is the path of small file i.
func smallName(i int) string { return fmt.Sprintf("/small/d%02d/f%05d", i%50, i) }

var _ = io.EOF

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func walkStore(s *volume.Store) []volume.ChunkInfo {
	var out []volume.ChunkInfo
	s.Walk(func(ci volume.ChunkInfo) bool { out = append(out, ci); return true })
	return out
}
