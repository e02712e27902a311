package client_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

func TestSmokeSingle(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{})
	cl := c.Client()
	ctx := context.Background()
	data := testcluster.RandBytes(1, 3<<20+17)
	fi, err := cl.WriteFile(ctx, "/a/b.bin", bytes.NewReader(data), client.WriteOptions{Parents: true})
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(data)) {
		t.Fatalf("size %d", fi.Size())
	}
	f, err := cl.Open(ctx, "/a/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestSmallReadsAndMD5: byte-by-byte reads go through the read-ahead window
// and return the same bytes; with MD5 on, chunks carry and verify an MD5.
func TestSmallReadsAndMD5(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{ChunkSize: 64 << 10})
	cl := c.NewClient(client.Options{MD5: true})
	ctx := context.Background()
	data := testcluster.RandBytes(9, 300<<10+5)
	if _, err := cl.WriteFile(ctx, "/m", bytes.NewReader(data), client.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := cl.Open(ctx, "/m")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Chunks()) == 0 || len(f.Chunks()[0].MD5) != 16 {
		t.Fatal("chunk has no MD5 in metadata")
	}
	got := make([]byte, 0, len(data))
	one := make([]byte, 7)
	for {
		n, err := f.Read(one)
		got = append(got, one[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("small reads returned different bytes")
	}
}
