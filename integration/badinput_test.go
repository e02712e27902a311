package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/token"
)

// TestHostilePaths: every malformed path is refused with Invalid before it
// reaches the cluster, and nothing is created.
func TestHostilePaths(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{})
	cl := c.Client()
	ctx := context.Background()
	long := "/" + strings.Repeat("n", 256)
	deep := strings.Repeat("/abcdefghij", 410) // 4,510 bytes
	for _, p := range []string{"", "relative", "/a/../b", "/..", "/a/./b", "/a\x00b", long, deep} {
		if _, err := cl.WriteFile(ctx, p, strings.NewReader("x"), client.WriteOptions{Parents: true}); !errors.Is(err, cairn.Invalid) {
			t.Errorf("write %q: got %v, want Invalid", p, err)
		}
		if _, err := cl.Mkdir(ctx, p, client.MkdirOptions{Parents: true}); !errors.Is(err, cairn.Invalid) {
			t.Errorf("mkdir %q: got %v, want Invalid", p, err)
		}
		if err := cl.Rename(ctx, "/x", p, client.RenameOptions{}); !errors.Is(err, cairn.Invalid) {
			t.Errorf("rename to %q: got %v, want Invalid", p, err)
		}
	}
	// The limits themselves are fine: a 255-byte name, a path of ~4,000 bytes.
	ok255 := "/" + strings.Repeat("n", 255)
	mustWrite(t, cl, ok255, []byte("fits"))
	okDeep := strings.Repeat("/abcdefghij", 370) // 4,070 bytes
	mustWrite(t, cl, okDeep, []byte("fits"))
	list, err := cl.ReadDir(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("root has %d entries after refused writes, want the 2 valid ones", len(list))
	}
}

// TestNamespaceRules: writing to a directory, renaming a directory into
// itself, removing a non-empty directory, creating over a file.
func TestNamespaceRules(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{})
	cl := c.Client()
	ctx := context.Background()
	if _, err := cl.Mkdir(ctx, "/d/e/f", client.MkdirOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cl, "/d/file", []byte("content"))
	cases := []struct {
		name string
		err  error
		kind cairn.Kind
	}{
		{"write to a directory", write(cl, "/d/e", "x"), cairn.IsDir},
		{"rename dir into itself", cl.Rename(ctx, "/d", "/d/e/f/d", client.RenameOptions{}), cairn.Invalid},
		{"rename dir onto itself child", cl.Rename(ctx, "/d/e", "/d/e/x", client.RenameOptions{}), cairn.Invalid},
		{"remove non-empty dir", rm(cl, "/d/e"), cairn.NotEmpty},
		{"mkdir over a file", mkdir(cl, "/d/file"), cairn.Exists},
		{"write below a file", write(cl, "/d/file/x", "x"), cairn.NotDir},
		{"exclusive create of existing", exclusive(cl, "/d/file"), cairn.Exists},
		{"rename missing", cl.Rename(ctx, "/nope", "/x", client.RenameOptions{}), cairn.NotFound},
		{"remove root", rm(cl, "/"), cairn.Invalid},
		{"file over dir", cl.Rename(ctx, "/d/file", "/d/e", client.RenameOptions{}), cairn.IsDir},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.kind) {
			t.Errorf("%s: got %v, want kind %v", tc.name, tc.err, tc.kind)
		}
	}
	mustMatch(t, cl, "/d/file", []byte("content"))
	// A rename into an unrelated directory works and is atomic for the tree.
	if err := cl.Rename(ctx, "/d/e", "/moved", client.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Stat(ctx, "/moved/f"); err != nil {
		t.Fatal(err)
	}
}

func write(cl *client.Client, p, s string) error {
	_, err := cl.WriteFile(context.Background(), p, strings.NewReader(s), client.WriteOptions{})
	return err
}

func exclusive(cl *client.Client, p string) error {
	_, err := cl.WriteFile(context.Background(), p, strings.NewReader("y"), client.WriteOptions{Mode: client.Exclusive})
	return err
}

func rm(cl *client.Client, p string) error {
	_, err := cl.Remove(context.Background(), p, client.RemoveOptions{})
	return err
}

func mkdir(cl *client.Client, p string) error {
	_, err := cl.Mkdir(context.Background(), p, client.MkdirOptions{})
	return err
}

// TestChunkWithWrongChecksum: a chunk whose bytes do not match the CRC the
// sender declared is refused (Corrupt) by the data node and by its chain,
// and nothing is stored.
func TestChunkWithWrongChecksum(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Nodes: 2, Replication: 2})
	id := cairn.NewChunkID()
	data := []byte("the bytes that were meant")
	second := c.Nodes[1]
	req, _ := http.NewRequest(http.MethodPut, c.URL(c.Nodes[0].Addr, "/v1/chunks/"+id.String()), bytes.NewReader(data))
	req.Header.Set(cairnhttp.HeaderCRC, "deadbeef")
	req.Header.Set(cairnhttp.HeaderChain, string(second.Proc.Node.ID())+"@"+second.Addr)
	req.Header.Set(cairnhttp.HeaderToken, base64.RawURLEncoding.EncodeToString(signer(t, c)(token.Write, time.Now().Add(time.Hour), id)))
	resp, err := c.HTTPClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	err = cairnhttp.ReadError(resp)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("got %d %v, want 422 Corrupt", resp.StatusCode, err)
	}
	for i, n := range c.Nodes {
		if _, err := n.Proc.Node.Store().Stat(id); !errors.Is(err, cairn.NotFound) {
			t.Errorf("node %d stored the corrupt chunk: %v", i, err)
		}
	}
}

// TestTruncatedUpload: a chunk body that ends early is refused and not
// stored; a file whose input fails midway is not committed.
func TestTruncatedUpload(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{ChunkSize: 64 << 10})
	id := cairn.NewChunkID()
	conn, err := net.Dial("tcp", c.Nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /v1/chunks/%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n%s: 00000000\r\n\r\n0123456789", id, cairnhttp.HeaderCRC)
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, conn)
	conn.Close()
	if _, err := c.Nodes[0].Proc.Node.Store().Stat(id); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("truncated chunk was stored: %v", err)
	}

	cl := c.Client()
	mustWrite(t, cl, "/keep", []byte("old content"))
	failing := io.MultiReader(bytes.NewReader(randBytes(3, 200<<10)), errReader{})
	if _, err := cl.WriteFile(context.Background(), "/keep", failing, client.WriteOptions{}); err == nil {
		t.Fatal("a write whose input failed succeeded")
	}
	if _, err := cl.WriteFile(context.Background(), "/new", io.MultiReader(strings.NewReader("abc"), errReader{}), client.WriteOptions{}); err == nil {
		t.Fatal("a write whose input failed succeeded")
	}
	mustMatch(t, cl, "/keep", []byte("old content"))
	if _, err := cl.Stat(context.Background(), "/new"); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("half-written file exists: %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by the uploader") }

// TestDiskFillsDuringWrite puts the only data node on a small tmpfs: a
// write that does not fit fails with NoSpace and commits nothing, earlier
// files stay readable, and writes succeed again once space is freed.
func TestDiskFillsDuringWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	os.MkdirAll(mnt, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	c := testcluster.New(t, testcluster.Options{ChunkSize: 1 << 20, NodeDir: func(int) string { return mnt }})
	cl := c.Client()
	small := randBytes(5, 2<<20)
	mustWrite(t, cl, "/small", small)
	_, err := cl.WriteFile(context.Background(), "/huge", bytes.NewReader(randBytes(6, 24<<20)), client.WriteOptions{})
	if !errors.Is(err, cairn.NoSpace) && !errors.Is(err, cairn.Unavailable) {
		t.Fatalf("write to a full disk: got %v, want NoSpace", err)
	}
	if !strings.Contains(err.Error(), "space") {
		t.Errorf("error does not say the disk is full: %v", err)
	}
	if _, err := cl.Stat(context.Background(), "/huge"); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("a failed write left a file: %v", err)
	}
	mustMatch(t, cl, "/small", small)
	// The node still takes small writes where space remains.
	mustWrite(t, cl, "/tiny", []byte("still writable"))
	mustMatch(t, cl, "/tiny", []byte("still writable"))
}
