package client_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestNamespaceOptions: what each option of Mkdir, Rename and Remove
// changes, what Remove reports, and WrapInDir.
func TestNamespaceOptions(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{})
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if _, err := cl.Mkdir(ctx, "/a/b", client.MkdirOptions{}); !errors.Is(err, cairn.NotFound) {
		t.Errorf("mkdir without Parents under a missing parent: %v, want NotFound", err)
	}
	if _, err := cl.Mkdir(ctx, "/a/b", client.MkdirOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Mkdir(ctx, "/a/b", client.MkdirOptions{}); !errors.Is(err, cairn.Exists) {
		t.Errorf("mkdir without Parents of an existing directory: %v, want Exists", err)
	}
	if fi, err := cl.Mkdir(ctx, "/a/b", client.MkdirOptions{Parents: true}); err != nil || !fi.IsDir() {
		t.Errorf("mkdir with Parents of an existing directory: %v, %v; want its attributes", fi, err)
	}

	write(t, cl, "/a/b/f1", "one")
	write(t, cl, "/a/b/f2", "two")
	if err := cl.Rename(ctx, "/a/b/f1", "/a/b/f2", client.RenameOptions{NoReplace: true}); !errors.Is(err, cairn.Exists) {
		t.Errorf("rename with NoReplace onto a file: %v, want Exists", err)
	}
	if got := read(t, cl, "/a/b/f2"); got != "two" {
		t.Errorf("a refused rename changed the destination to %q", got)
	}
	if err := cl.Rename(ctx, "/a/b/f1", "/a/b/f2", client.RenameOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, cl, "/a/b/f2"); got != "one" {
		t.Errorf("after a replacing rename the destination holds %q, want one", got)
	}

	write(t, cl, "/a/c/f3", "three")
	if _, err := cl.Remove(ctx, "/a", client.RemoveOptions{}); err == nil {
		t.Error("removing a non-empty directory without Recursive succeeded")
	}
	res, err := cl.Remove(ctx, "/a", client.RemoveOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.RemoveResult{Files: 2, Dirs: 3}); res != want {
		t.Errorf("recursive remove of /a reports %+v, want %+v", res, want)
	}
	if _, err := cl.Stat(ctx, "/a"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("stat after remove: %v, want NotFound", err)
	}

	testWrapInDir(ctx, t, cl)
}

func testWrapInDir(ctx context.Context, t *testing.T, cl *client.Client) {
	write(t, cl, "/w/obj", "payload")
	before, err := cl.Stat(ctx, "/w/obj")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := cl.WrapInDir(ctx, "/w/obj", "inner")
	if err != nil {
		t.Fatal(err)
	}
	if !dir.IsDir() || dir.Path != "/w/obj" || dir.Inode == before.Inode {
		t.Errorf("WrapInDir returned %+v, want a new directory at /w/obj", dir)
	}
	moved, err := cl.Stat(ctx, "/w/obj/inner")
	if err != nil {
		t.Fatal(err)
	}
	if moved.Inode != before.Inode || moved.CRC32C != before.CRC32C || read(t, cl, "/w/obj/inner") != "payload" {
		t.Errorf("the wrapped file is %+v, want inode %d with its content", moved, before.Inode)
	}
	again, err := cl.WrapInDir(ctx, "/w/obj", "inner")
	if err != nil || again.Inode != dir.Inode {
		t.Errorf("repeating WrapInDir: %+v, %v; want the same directory unchanged", again, err)
	}
	if _, err := cl.WrapInDir(ctx, "/w/missing", "inner"); !errors.Is(err, cairn.NotFound) {
		t.Errorf("WrapInDir of a missing path: %v, want NotFound", err)
	}
	if _, err := cl.WrapInDir(ctx, "/w/obj/inner", "a/b"); !errors.Is(err, cairn.Invalid) {
		t.Errorf("WrapInDir to a name with a slash: %v, want Invalid", err)
	}
}

// TestMultipartTypes: a multipart session and its parts as the SDK's
// Upload and Part, through completion.
func TestMultipartTypes(t *testing.T) {
	c := testcluster.NewInProcess(t, testcluster.Options{ChunkSize: 64 << 10})
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cl.Mkdir(ctx, "/mp", client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	up, err := cl.CreateMultipart(ctx, "/mp/file", client.WriteOptions{Xattrs: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID == "" || up.Path != "/mp/file" || !up.Multipart || up.ChunkSize != 64<<10 || up.Replication < 1 ||
		up.Created.IsZero() || up.Xattrs["k"] != "v" || up.Completed != 0 {
		t.Errorf("new session %+v", up)
	}
	if _, err := cl.CreatePart(ctx, up.ID, 0, up.ChunkSize, up.Replication); !errors.Is(err, cairn.Invalid) {
		t.Errorf("part number 0: %v, want Invalid", err)
	}
	bodies := []string{strings.Repeat("a", 100<<10), "tail"}
	numbers := []int{1, 1 << 20} // parts are generic: S3's limit of 10,000 is the gateway's
	var complete []client.CompletePart
	for i, body := range bodies {
		w, err := cl.CreatePart(ctx, up.ID, numbers[i], up.ChunkSize, up.Replication)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum([]byte(body))
		w.SetPartMD5(sum[:])
		if w.Part() != nil {
			t.Error("Part before Close is not nil")
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		p := w.Part()
		if p == nil || p.Number != numbers[i] || p.Size != int64(len(body)) || !bytes.Equal(p.MD5, sum[:]) || p.Modified.IsZero() || p.Chunks < 1 {
			t.Errorf("part %d recorded as %+v", numbers[i], p)
		}
		complete = append(complete, client.CompletePart{Number: numbers[i], MD5: sum[:]})
	}
	listed, parts, err := cl.ListParts(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if listed.ID != up.ID || len(parts) != 2 || parts[0].Number != 1 || parts[1].Number != numbers[1] || parts[0].Chunks != 2 {
		t.Errorf("ListParts: %+v, %+v", listed, parts)
	}
	if ups, err := cl.ListUploads(ctx, "/mp/"); err != nil || len(ups) != 1 || ups[0].ID != up.ID {
		t.Errorf("ListUploads(/mp/): %+v, %v; want the one session", ups, err)
	}
	if ups, err := cl.ListUploads(ctx, "/other/"); err != nil || len(ups) != 0 {
		t.Errorf("ListUploads(/other/): %+v, %v; want none", ups, err)
	}
	fi, err := cl.CompleteMultipart(ctx, up.ID, complete, client.CompleteOptions{Path: "/mp/file"})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, cl, "/mp/file"); got != bodies[0]+bodies[1] {
		t.Errorf("the completed file has %d bytes, want the two parts", len(got))
	}
	done, err := cl.GetUpload(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	if done.Completed != fi.Inode {
		t.Errorf("completed session names inode %d, want the file's %d", done.Completed, fi.Inode)
	}
}

func write(t *testing.T, cl *client.Client, p, content string) {
	t.Helper()
	if _, err := cl.WriteFile(context.Background(), p, strings.NewReader(content), client.WriteOptions{Parents: true}); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, cl *client.Client, p string) string {
	t.Helper()
	f, err := cl.Open(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
