package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/meta/grpcapi"
	"github.com/cairnfs/cairn/node"
)

// testChunkSize is small so that a few MiB make several chunks.
const testChunkSize = 1 << 20

// newTestServer starts a single-peer metadata service, one data node and
// the REST API over them, all in this process, and stops everything when
// the test ends. It is the one place that wires a cluster, so it can be
// swapped for a shared in-process test cluster later.
func newTestServer(t *testing.T) (*httptest.Server, *client.Client) {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	// Metadata peer with its gRPC API.
	raftLis, grpcLis := listen(), listen()
	grpcAddr := grpcLis.Addr().String()
	cfg := meta.DefaultConfig()
	cfg.ID = "m1"
	cfg.Dir = filepath.Join(dir, "meta")
	cfg.RaftListener = raftLis
	cfg.APIAddr = grpcAddr
	cfg.DefaultReplication = 1
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLease = 50 * time.Millisecond
	cfg.Logger = logger
	ms, err := meta.New(cfg)
	if err == nil {
		err = ms.Start(context.Background())
	}
	if err != nil {
		raftLis.Close()
		grpcLis.Close()
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	grpcapi.NewService(ms).Register(gs)
	served := make(chan struct{})
	go func() { defer close(served); gs.Serve(grpcLis) }()
	t.Cleanup(func() {
		gs.Stop()
		<-served
		ms.Close()
	})

	// Data node.
	dataLis := listen()
	n, err := node.New(node.Config{Dir: filepath.Join(dir, "node"), Advertise: dataLis.Addr().String(),
		Meta: []string{grpcAddr}, HeartbeatInterval: 50 * time.Millisecond, Logger: logger})
	if err != nil {
		dataLis.Close()
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		dataLis.Close()
		t.Fatal(err)
	}
	ds := &httptest.Server{Listener: dataLis, Config: &http.Server{Handler: n.Handler()}}
	ds.Start()
	t.Cleanup(func() {
		ds.Close()
		n.Close()
	})

	// Client and API.
	c, err := client.Dial([]string{grpcAddr}, client.Options{ChunkSize: testChunkSize, RetryFor: 10 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waitWritable(t, c)
	api := httptest.NewServer(New(c, Options{Logger: logger}))
	t.Cleanup(api.Close)
	return api, c
}

// waitWritable waits until a file can be written: a leader is elected and
// the data node has registered.
func waitWritable(t *testing.T, c *client.Client) {
	t.Helper()
	await.Until(t, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := c.WriteFile(ctx, "/.ready", strings.NewReader("x"), client.WriteOptions{})
		if err == nil {
			_, err = c.Remove(ctx, "/.ready", client.RemoveOptions{})
		}
		if err != nil {
			return fmt.Errorf("cluster not writable: %w", err)
		}
		return nil
	})
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the API; hdr is alternating names and values.
func do(t *testing.T, srv *httptest.Server, method, target string, body io.Reader, hdr ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails unless the response has the status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %q", r.status, status, truncate(r.body))
	}
	return r
}

// wantErr fails unless the response is a JSON error of the kind, with its
// kind's status.
func (r response) wantErr(t *testing.T, kind cairn.Kind) {
	t.Helper()
	want := cairnhttp.Status(&cairn.Error{Kind: kind})
	if r.status != want {
		t.Fatalf("status %d, want %d (%v); body %q", r.status, want, kind, truncate(r.body))
	}
	if got := r.header.Get(cairnhttp.HeaderKind); got != strconv.Itoa(int(kind)) {
		t.Fatalf("error kind header %q, want %d (%v)", got, kind, kind)
	}
	var e struct{ Error, Kind string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" || e.Kind != kind.String() {
		t.Fatalf("error body %q is not a JSON error of kind %q (%v)", truncate(r.body), kind, err)
	}
}

func (r response) stat(t *testing.T) *Stat {
	t.Helper()
	var s Stat
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("stat body %q: %v", truncate(r.body), err)
	}
	return &s
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestFiles(t *testing.T) {
	srv, _ := newTestServer(t)

	t.Run("round trip", func(t *testing.T) {
		for _, n := range []int{0, 1, 3<<20 + 12345} {
			data := randomBytes(n)
			target := fmt.Sprintf("/v1/files/rt/f%d.bin", n)
			st := do(t, srv, "PUT", target, bytes.NewReader(data)).want(t, http.StatusCreated).stat(t)
			if st.Size != int64(n) || st.Dir || st.CRC32C != fmt.Sprintf("%08x", checksum.CRC32C(data)) || st.Mode != "0644" {
				t.Fatalf("%d bytes: stat after put %+v", n, st)
			}
			if want := int64((n + testChunkSize - 1) / testChunkSize); int64(st.Chunks) != want {
				t.Fatalf("%d bytes in %d chunks, want %d", n, st.Chunks, want)
			}
			got := do(t, srv, "GET", target, nil).want(t, http.StatusOK)
			if !bytes.Equal(got.body, data) {
				t.Fatalf("%d bytes: got %d bytes back, different", n, len(got.body))
			}
			if got.header.Get("Content-Type") != "application/octet-stream" ||
				got.header.Get(HeaderCRC) != st.CRC32C ||
				got.header.Get("ETag") != fmt.Sprintf(`"crc32c-%s-v%d"`, st.CRC32C, st.Version) ||
				got.header.Get("Content-Length") != strconv.Itoa(n) {
				t.Fatalf("%d bytes: headers %v", n, got.header)
			}
			// Conditional GET by ETag.
			do(t, srv, "GET", target, nil, "If-None-Match", got.header.Get("ETag")).want(t, http.StatusNotModified)
			// HEAD has the headers and no body.
			h := do(t, srv, "HEAD", target, nil).want(t, http.StatusOK)
			if h.header.Get("ETag") != got.header.Get("ETag") || h.header.Get("Last-Modified") == "" ||
				h.header.Get("Content-Length") != strconv.Itoa(n) || len(h.body) != 0 {
				t.Fatalf("HEAD %d bytes: headers %v body %d bytes", n, h.header, len(h.body))
			}
		}
	})

	t.Run("chunked upload", func(t *testing.T) {
		data := randomBytes(1<<20 + 3)
		pr, pw := io.Pipe()
		go func() { pw.Write(data); pw.Close() }()
		do(t, srv, "PUT", "/v1/files/chunked", pr).want(t, http.StatusCreated)
		if got := do(t, srv, "GET", "/v1/files/chunked", nil).want(t, http.StatusOK); !bytes.Equal(got.body, data) {
			t.Fatal("chunked upload came back different")
		}
	})

	t.Run("ranges", func(t *testing.T) {
		data := randomBytes(3 << 20)
		do(t, srv, "PUT", "/v1/files/ranges.bin", bytes.NewReader(data)).want(t, http.StatusCreated)
		for _, tc := range []struct {
			rng      string
			from, to int // inclusive
		}{
			{"bytes=0-9", 0, 9},
			{"bytes=-10", len(data) - 10, len(data) - 1},
			{"bytes=1048570-1048580", 1048570, 1048580}, // across a chunk boundary
			{"bytes=3145000-", 3145000, len(data) - 1},
		} {
			r := do(t, srv, "GET", "/v1/files/ranges.bin", nil, "Range", tc.rng).want(t, http.StatusPartialContent)
			if !bytes.Equal(r.body, data[tc.from:tc.to+1]) {
				t.Fatalf("%s: got %d bytes, want %d", tc.rng, len(r.body), tc.to-tc.from+1)
			}
			if want := fmt.Sprintf("bytes %d-%d/%d", tc.from, tc.to, len(data)); r.header.Get("Content-Range") != want {
				t.Fatalf("%s: Content-Range %q, want %q", tc.rng, r.header.Get("Content-Range"), want)
			}
		}
		r := do(t, srv, "GET", "/v1/files/ranges.bin", nil, "Range", "bytes=4000000-")
		r.want(t, http.StatusRequestedRangeNotSatisfiable)
		if r.header.Get("Content-Range") != fmt.Sprintf("bytes */%d", len(data)) {
			t.Fatalf("unsatisfiable range: Content-Range %q", r.header.Get("Content-Range"))
		}
		mr := do(t, srv, "GET", "/v1/files/ranges.bin", nil, "Range", "bytes=0-1,10-11").want(t, http.StatusPartialContent)
		if !strings.HasPrefix(mr.header.Get("Content-Type"), "multipart/byteranges") {
			t.Fatalf("multi-range Content-Type %q", mr.header.Get("Content-Type"))
		}
	})

	t.Run("overwrite exclusive append", func(t *testing.T) {
		do(t, srv, "PUT", "/v1/files/ap/log", strings.NewReader("one\n")).want(t, http.StatusCreated)
		do(t, srv, "PUT", "/v1/files/ap/log?exclusive=1", strings.NewReader("x")).wantErr(t, cairn.Exists)
		st := do(t, srv, "PUT", "/v1/files/ap/log?append=1", strings.NewReader("two\n")).want(t, http.StatusOK).stat(t)
		if st.Size != 8 {
			t.Fatalf("size after append %d", st.Size)
		}
		do(t, srv, "POST", "/v1/files/ap/log?op=append", strings.NewReader("three\n")).want(t, http.StatusOK)
		if got := do(t, srv, "GET", "/v1/files/ap/log", nil).want(t, http.StatusOK); string(got.body) != "one\ntwo\nthree\n" {
			t.Fatalf("after appends: %q", got.body)
		}
		do(t, srv, "PUT", "/v1/files/ap/log", strings.NewReader("new")).want(t, http.StatusCreated)
		if got := do(t, srv, "GET", "/v1/files/ap/log", nil).want(t, http.StatusOK); string(got.body) != "new" {
			t.Fatalf("after overwrite: %q", got.body)
		}
		do(t, srv, "PUT", "/v1/files/ap/fresh?exclusive=1", strings.NewReader("x")).want(t, http.StatusCreated)
		do(t, srv, "PUT", "/v1/files/ap/log?exclusive=1&append=1", strings.NewReader("x")).wantErr(t, cairn.Invalid)
		do(t, srv, "PUT", "/v1/files/ap/x?append=maybe", strings.NewReader("x")).wantErr(t, cairn.Invalid)
	})

	t.Run("parents", func(t *testing.T) {
		do(t, srv, "PUT", "/v1/files/deep/er/file", strings.NewReader("x")).want(t, http.StatusCreated)
		do(t, srv, "PUT", "/v1/files/nope/file?parents=0", strings.NewReader("x")).wantErr(t, cairn.NotFound)
	})

	t.Run("put to a directory", func(t *testing.T) {
		do(t, srv, "POST", "/v1/files/adir?op=mkdir", nil).want(t, http.StatusCreated)
		do(t, srv, "PUT", "/v1/files/adir", strings.NewReader("x")).wantErr(t, cairn.IsDir)
	})

	t.Run("missing", func(t *testing.T) {
		do(t, srv, "GET", "/v1/files/no/such", nil).wantErr(t, cairn.NotFound)
		do(t, srv, "GET", "/v1/stat/no/such", nil).wantErr(t, cairn.NotFound)
		if r := do(t, srv, "HEAD", "/v1/files/no/such", nil); r.status != http.StatusNotFound {
			t.Fatalf("HEAD missing: %d", r.status)
		}
	})

	t.Run("repeated slashes fold", func(t *testing.T) {
		st := do(t, srv, "PUT", "/v1/files//slash//file", strings.NewReader("x")).want(t, http.StatusCreated).stat(t)
		if st.Path != "/slash/file" {
			t.Fatalf("path %q", st.Path)
		}
	})
}

func TestNamespace(t *testing.T) {
	srv, c := newTestServer(t)
	ctx := context.Background()

	t.Run("list with pagination", func(t *testing.T) {
		var want []string
		for i := range 25 {
			name := fmt.Sprintf("f%02d", i)
			want = append(want, name)
			if _, err := c.WriteFile(ctx, "/list/"+name, strings.NewReader(name), client.WriteOptions{Parents: true}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Mkdir(ctx, "/list/sub", client.MkdirOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, "sub")
		var got []string
		after, pages := "", 0
		for {
			r := do(t, srv, "GET", "/v1/files/list?limit=10&after="+after, nil).want(t, http.StatusOK)
			if r.header.Get("Content-Type") != "application/json" {
				t.Fatalf("listing Content-Type %q", r.header.Get("Content-Type"))
			}
			var page struct {
				Path    string
				Entries []Stat
				Next    string
			}
			if err := json.Unmarshal(r.body, &page); err != nil {
				t.Fatalf("listing %q: %v", truncate(r.body), err)
			}
			pages++
			if page.Path != "/list" || len(page.Entries) > 10 {
				t.Fatalf("page %d: path %q, %d entries", pages, page.Path, len(page.Entries))
			}
			for _, e := range page.Entries {
				got = append(got, e.Name)
				if e.Path != "/list/"+e.Name || e.Dir != (e.Name == "sub") || (!e.Dir && (e.Size != 3 || e.CRC32C == "")) {
					t.Fatalf("entry %+v", e)
				}
			}
			if page.Next == "" {
				break
			}
			if page.Next != got[len(got)-1] {
				t.Fatalf("next %q, want the last name %q", page.Next, got[len(got)-1])
			}
			after = page.Next
		}
		if !slices.Equal(got, want) || pages != 3 {
			t.Fatalf("listed %v in %d pages, want %v in 3", got, pages, want)
		}
		do(t, srv, "GET", "/v1/files/list?limit=0", nil).wantErr(t, cairn.Invalid)
		do(t, srv, "GET", "/v1/files/list?limit=10001", nil).wantErr(t, cairn.Invalid)
		r := do(t, srv, "GET", "/v1/files/", nil).want(t, http.StatusOK)
		if !bytes.Contains(r.body, []byte(`"name":"list"`)) {
			t.Fatalf("root listing %s", truncate(r.body))
		}
		// An empty directory is an empty list, not null.
		r = do(t, srv, "GET", "/v1/files/list/sub", nil).want(t, http.StatusOK)
		if strings.TrimSpace(string(r.body)) != `{"path":"/list/sub","entries":[],"next":""}` {
			t.Fatalf("empty listing %s", r.body)
		}
	})

	t.Run("stat", func(t *testing.T) {
		data := randomBytes(2<<20 + 1)
		do(t, srv, "PUT", "/v1/files/st/file.bin?perm=0600", bytes.NewReader(data)).want(t, http.StatusCreated)
		st := do(t, srv, "GET", "/v1/stat/st/file.bin", nil).want(t, http.StatusOK).stat(t)
		if st.Name != "file.bin" || st.Path != "/st/file.bin" || st.Size != int64(len(data)) || st.Dir ||
			st.Mode != "0600" || st.CRC32C != fmt.Sprintf("%08x", checksum.CRC32C(data)) ||
			st.Version == 0 || st.Chunks != 3 || st.ChunkSize != testChunkSize || st.Inode == 0 {
			t.Fatalf("stat %+v", st)
		}
		if _, err := time.Parse(time.RFC3339Nano, st.Mtime); err != nil {
			t.Fatalf("mtime %q: %v", st.Mtime, err)
		}
		d := do(t, srv, "GET", "/v1/stat/st", nil).want(t, http.StatusOK).stat(t)
		if !d.Dir || d.Name != "st" || d.CRC32C != "" {
			t.Fatalf("dir stat %+v", d)
		}
		root := do(t, srv, "GET", "/v1/stat/", nil).want(t, http.StatusOK).stat(t)
		if !root.Dir || root.Path != "/" {
			t.Fatalf("root stat %+v", root)
		}
	})

	t.Run("locations", func(t *testing.T) {
		data := randomBytes(3 << 20)
		do(t, srv, "PUT", "/v1/files/loc.bin", bytes.NewReader(data)).want(t, http.StatusCreated)
		var locs Locations
		r := do(t, srv, "GET", "/v1/locations/loc.bin", nil).want(t, http.StatusOK)
		if err := json.Unmarshal(r.body, &locs); err != nil {
			t.Fatal(err)
		}
		if len(locs.Blocks) != 3 {
			t.Fatalf("%d blocks: %s", len(locs.Blocks), r.body)
		}
		for i, b := range locs.Blocks {
			if b.Offset != int64(i)*testChunkSize || b.Length != testChunkSize || len(b.Hosts) != 1 || len(b.Nodes) != 1 {
				t.Fatalf("block %d: %+v", i, b)
			}
		}
		r = do(t, srv, "GET", "/v1/locations/loc.bin?offset=1500000&length=10", nil).want(t, http.StatusOK)
		locs = Locations{}
		if err := json.Unmarshal(r.body, &locs); err != nil {
			t.Fatal(err)
		}
		if len(locs.Blocks) != 1 || locs.Blocks[0].Offset != testChunkSize {
			t.Fatalf("ranged locations %s", r.body)
		}
		do(t, srv, "GET", "/v1/locations/loc.bin?offset=-1", nil).wantErr(t, cairn.Invalid)
		do(t, srv, "GET", "/v1/locations/loc.bin?length=x", nil).wantErr(t, cairn.Invalid)
	})

	t.Run("mkdir", func(t *testing.T) {
		st := do(t, srv, "POST", "/v1/files/mk/a/b?op=mkdir", nil).want(t, http.StatusCreated).stat(t)
		if !st.Dir || st.Path != "/mk/a/b" {
			t.Fatalf("mkdir %+v", st)
		}
		do(t, srv, "POST", "/v1/files/mk/a/b?op=mkdir", nil).want(t, http.StatusCreated) // parents: exists is fine
		do(t, srv, "POST", "/v1/files/mk/a/b?op=mkdir&parents=0", nil).wantErr(t, cairn.Exists)
		do(t, srv, "POST", "/v1/files/mk/x/y?op=mkdir&parents=0", nil).wantErr(t, cairn.NotFound)
		do(t, srv, "POST", "/v1/files/mk?op=frob", nil).wantErr(t, cairn.Invalid)
		do(t, srv, "POST", "/v1/files/mk", nil).wantErr(t, cairn.Invalid)
	})

	t.Run("rename", func(t *testing.T) {
		do(t, srv, "PUT", "/v1/files/rn/old", strings.NewReader("hello")).want(t, http.StatusCreated)
		st := do(t, srv, "POST", "/v1/files/rn/old?op=rename&to=/rn/new", nil).want(t, http.StatusOK).stat(t)
		if st.Path != "/rn/new" || st.Size != 5 {
			t.Fatalf("renamed %+v", st)
		}
		do(t, srv, "GET", "/v1/files/rn/old", nil).wantErr(t, cairn.NotFound)
		if got := do(t, srv, "GET", "/v1/files/rn/new", nil).want(t, http.StatusOK); string(got.body) != "hello" {
			t.Fatalf("renamed content %q", got.body)
		}
		do(t, srv, "PUT", "/v1/files/rn/other", strings.NewReader("x")).want(t, http.StatusCreated)
		do(t, srv, "POST", "/v1/files/rn/other?op=rename&to=/rn/new&noreplace=1", nil).wantErr(t, cairn.Exists)
		do(t, srv, "POST", "/v1/files/rn/new?op=rename&to=/rn/../etc", nil).wantErr(t, cairn.Invalid)
		do(t, srv, "POST", "/v1/files/rn/new?op=rename", nil).wantErr(t, cairn.Invalid)
	})

	t.Run("delete", func(t *testing.T) {
		for _, p := range []string{"/del/a", "/del/b", "/del/sub/c"} {
			do(t, srv, "PUT", "/v1/files"+p, strings.NewReader("x")).want(t, http.StatusCreated)
		}
		do(t, srv, "DELETE", "/v1/files/del", nil).wantErr(t, cairn.NotEmpty)
		do(t, srv, "DELETE", "/v1/files/del/a", nil).want(t, http.StatusOK)
		do(t, srv, "GET", "/v1/stat/del/a", nil).wantErr(t, cairn.NotFound)
		r := do(t, srv, "DELETE", "/v1/files/del?recursive=1", nil).want(t, http.StatusOK)
		var rm struct{ Files, Dirs uint64 }
		if err := json.Unmarshal(r.body, &rm); err != nil || rm.Files != 2 || rm.Dirs != 2 {
			t.Fatalf("recursive delete %s (%v)", r.body, err)
		}
		do(t, srv, "GET", "/v1/stat/del", nil).wantErr(t, cairn.NotFound)
		do(t, srv, "DELETE", "/v1/files/del", nil).wantErr(t, cairn.NotFound)
	})

	t.Run("cluster", func(t *testing.T) {
		var cl Cluster
		r := do(t, srv, "GET", "/v1/cluster", nil).want(t, http.StatusOK)
		if err := json.Unmarshal(r.body, &cl); err != nil {
			t.Fatal(err)
		}
		if cl.Leader.ID != "m1" || len(cl.Peers) != 1 || !cl.Peers[0].Leader || len(cl.Nodes) != 1 || cl.Nodes[0].Addr == "" {
			t.Fatalf("cluster %s", r.body)
		}
	})
}

func TestHostilePaths(t *testing.T) {
	srv, _ := newTestServer(t)
	long := strings.Repeat("n", 300)
	var deep strings.Builder
	for deep.Len() < 5000 {
		deep.WriteString("/" + strings.Repeat("d", 99))
	}
	for _, p := range []string{
		"a/%2e%2e/b",
		"%2E%2E/etc/passwd",
		"a/../b", // literal dot segments: refused, not redirected
		"./a",
		"a%00b",
		"a/%2e",
		"%ff%fe", // not UTF-8: a 400, not the 500 of a string gRPC cannot carry
		long,
		deep.String()[1:],
	} {
		for _, route := range []struct{ method, prefix string }{
			{"GET", "/v1/files/"}, {"PUT", "/v1/files/"}, {"DELETE", "/v1/files/"}, {"POST", "/v1/files/"},
			{"GET", "/v1/stat/"}, {"GET", "/v1/locations/"},
		} {
			target := route.prefix + p
			if route.method == "POST" {
				target += "?op=mkdir"
			}
			r := do(t, srv, route.method, target, strings.NewReader("x"))
			if r.status != http.StatusBadRequest {
				t.Fatalf("%s %.60s: status %d, want 400; body %q", route.method, target, r.status, truncate(r.body))
			}
			r.wantErr(t, cairn.Invalid)
		}
	}
	// The error names the problem.
	r := do(t, srv, "GET", "/v1/files/"+long, nil)
	if !bytes.Contains(r.body, []byte("255")) {
		t.Fatalf("overlong name error %q does not name the limit", r.body)
	}
	r = do(t, srv, "GET", "/v1/files/a%00b", nil)
	if !bytes.Contains(r.body, []byte("NUL")) {
		t.Fatalf("NUL error %q does not say NUL", r.body)
	}
	r = do(t, srv, "GET", "/v1/files/%ff%fe", nil)
	if !bytes.Contains(r.body, []byte("UTF-8")) {
		t.Fatalf("invalid UTF-8 error %q does not say UTF-8", r.body)
	}
	r = do(t, srv, "POST", "/v1/files/x?op=rename&to=/%ff", nil)
	r.wantErr(t, cairn.Invalid)
	// Nothing was created by any of it.
	r = do(t, srv, "GET", "/v1/files/", nil).want(t, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"entries":[]`)) {
		t.Fatalf("root after hostile requests: %s", r.body)
	}
}

func TestFailedUploadsCommitNothing(t *testing.T) {
	srv, c := newTestServer(t)
	ctx := context.Background()
	addr := srv.Listener.Addr().String()

	// truncatedPut sends Content-Length: 1000 and only 10 bytes, then
	// half-closes the connection and returns the response status.
	truncatedPut := func(t *testing.T, path string) int {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /v1/files%s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n0123456789", path, addr)
		conn.(*net.TCPConn).CloseWrite()
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the response to a truncated upload: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("truncated new file", func(t *testing.T) {
		if st := truncatedPut(t, "/trunc/new"); st != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", st)
		}
		if _, err := c.Stat(ctx, "/trunc/new"); !errors.Is(err, cairn.NotFound) {
			t.Fatalf("truncated upload created the file: %v", err)
		}
	})

	t.Run("truncated overwrite", func(t *testing.T) {
		do(t, srv, "PUT", "/v1/files/trunc/old", strings.NewReader("original")).want(t, http.StatusCreated)
		if st := truncatedPut(t, "/trunc/old"); st != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", st)
		}
		if got := do(t, srv, "GET", "/v1/files/trunc/old", nil).want(t, http.StatusOK); string(got.body) != "original" {
			t.Fatalf("content after truncated overwrite %q", got.body)
		}
	})

	t.Run("wrong crc32c", func(t *testing.T) {
		data := randomBytes(testChunkSize + 100) // a whole chunk is uploaded before the end is seen
		bad := fmt.Sprintf("%08x", checksum.CRC32C(data)^1)
		do(t, srv, "PUT", "/v1/files/crc/new", bytes.NewReader(data), HeaderCRC, bad).wantErr(t, cairn.Corrupt)
		if _, err := c.Stat(ctx, "/crc/new"); !errors.Is(err, cairn.NotFound) {
			t.Fatalf("upload with a wrong CRC created the file: %v", err)
		}

		do(t, srv, "PUT", "/v1/files/crc/old", strings.NewReader("original")).want(t, http.StatusCreated)
		do(t, srv, "PUT", "/v1/files/crc/old", bytes.NewReader(data), HeaderCRC, bad).wantErr(t, cairn.Corrupt)
		do(t, srv, "PUT", "/v1/files/crc/old?append=1", bytes.NewReader(data), HeaderCRC, bad).wantErr(t, cairn.Corrupt)
		if got := do(t, srv, "GET", "/v1/files/crc/old", nil).want(t, http.StatusOK); string(got.body) != "original" {
			t.Fatalf("content after bad-CRC uploads %q", got.body)
		}

		good := fmt.Sprintf("%08X", checksum.CRC32C(data))
		st := do(t, srv, "PUT", "/v1/files/crc/old", bytes.NewReader(data), HeaderCRC, good).want(t, http.StatusCreated).stat(t)
		if st.CRC32C != strings.ToLower(good) {
			t.Fatalf("crc %s, want %s", st.CRC32C, good)
		}
		do(t, srv, "PUT", "/v1/files/crc/x", strings.NewReader("x"), HeaderCRC, "not-hex").wantErr(t, cairn.Invalid)
	})
}

func TestUploadLimit(t *testing.T) {
	_, c := newTestServer(t)
	srv := httptest.NewServer(New(c, Options{MaxUploadSize: 100, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	do(t, srv, "PUT", "/v1/files/big", bytes.NewReader(make([]byte, 101))).wantErr(t, cairn.Invalid)
	do(t, srv, "PUT", "/v1/files/small", bytes.NewReader(make([]byte, 100))).want(t, http.StatusCreated)
	if _, err := c.Stat(context.Background(), "/big"); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("oversized upload created the file: %v", err)
	}
}

func TestEmptySuffixRange(t *testing.T) {
	srv, _ := newTestServer(t)
	do(t, srv, "PUT", "/v1/files/r", strings.NewReader("0123456789")).want(t, http.StatusCreated)
	for _, method := range []string{"GET", "HEAD"} {
		r := do(t, srv, method, "/v1/files/r", nil, "Range", "bytes=-0").want(t, http.StatusRequestedRangeNotSatisfiable)
		if got := r.header.Get("Content-Range"); got != "bytes */10" {
			t.Errorf("%s bytes=-0: Content-Range %q, want bytes */10", method, got)
		}
	}
	// With a satisfiable range beside it, that one is served.
	r := do(t, srv, "GET", "/v1/files/r", nil, "Range", "bytes=-0, 2-4").want(t, http.StatusPartialContent)
	if string(r.body) != "234" || r.header.Get("Content-Range") != "bytes 2-4/10" {
		t.Errorf("bytes=-0,2-4: %q, Content-Range %q, want 234 and bytes 2-4/10", r.body, r.header.Get("Content-Range"))
	}
	do(t, srv, "GET", "/v1/files/r", nil, "Range", "bytes=-3").want(t, http.StatusPartialContent)
}

// TestQuotaExceeded: a PUT past a directory's quota is answered 507 with
// a JSON error of kind "quota exceeded" that names the directory, stores
// nothing, and the directory's stat shows its quota and usage.
func TestQuotaExceeded(t *testing.T) {
	srv, c := newTestServer(t)
	ctx := context.Background()
	do(t, srv, "PUT", "/v1/files/lim/a", bytes.NewReader(make([]byte, 600))).want(t, http.StatusCreated)
	if _, err := c.Admin().SetQuota(ctx, "/lim", client.Quota{Bytes: 1000, Files: 5}); err != nil {
		t.Fatal(err)
	}
	r := do(t, srv, "PUT", "/v1/files/lim/b", bytes.NewReader(make([]byte, 401)))
	r.wantErr(t, cairn.QuotaExceeded)
	if r.status != http.StatusInsufficientStorage || !bytes.Contains(r.body, []byte("quota of /lim ")) {
		t.Errorf("PUT past the quota: %d %q", r.status, r.body)
	}
	do(t, srv, "GET", "/v1/files/lim/b", nil).wantErr(t, cairn.NotFound)
	do(t, srv, "PUT", "/v1/files/lim/b", bytes.NewReader(make([]byte, 400))).want(t, http.StatusCreated)
	st := do(t, srv, "GET", "/v1/stat/lim", nil).want(t, http.StatusOK).stat(t)
	if st.Quota == nil || *st.Quota != (Quota{Bytes: 1000, Files: 5, UsedBytes: 1000, UsedFiles: 2}) {
		t.Errorf("stat of a directory with a quota: %+v", st.Quota)
	}
}
