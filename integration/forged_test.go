package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/httpapi"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/s3"
)

// forgedObject is where the forged-replica tests keep their data: the S3
// gateway serves /forge/obj as bucket "forge", key "obj", and the SDK and
// the REST API read the same file.
const (
	forgedBucket = "forge"
	forgedKey    = "obj"
	forgedPath   = "/" + forgedBucket + "/" + forgedKey
	forgedAK     = "FORGEKEY"
	forgedSK     = "forge-secret-key-0123456789"
)

// forgedRange is one read the tests make through every API.
type forgedRange struct {
	name   string
	off, n int64 // n < 0: to the end
}

// forgedRanges covers whole reads, reads inside one sub-block of a chunk,
// reads across sub-blocks and across chunks, and the tail of the file.
// The file is 2.5 chunks of 1 MiB with 64 KiB sub-blocks.
var forgedRanges = []forgedRange{
	{"whole", 0, -1},
	{"4KiB-in-chunk0", 70_000, 4096},
	{"4KiB-in-chunk1", 1<<20 + 300_000, 4096},
	{"across-blocks", 1<<20 + 65_000, 200_000},
	{"across-chunks", 1<<20 - 1000, 5000},
	{"tail", 2<<20 + 100, -1},
}

// TestForgedReplicaNeverServed replaces every replica of a file's chunks
// on one data node with other bytes of the same length, stored through
// the node's own data port so that its per-block CRCs are consistent, and
// reads the file through the SDK (ReadRange, ReadAt, WriteTo, Read with
// read-ahead), the REST API and the S3 gateway, whole and ranged.
//
// With one replica every read must fail; with three replicas of which one
// is forged every read must return the written bytes. No path may ever
// hand out a forged byte.
func TestForgedReplicaNeverServed(t *testing.T) {
	t.Run("only-replica-forged", func(t *testing.T) {
		cl := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, Replication: 1})
		testForged(t, cl, false)
	})
	t.Run("one-of-three-forged", func(t *testing.T) {
		cl := testcluster.NewInProcess(t, testcluster.Options{Nodes: 3, Replication: 3})
		testForged(t, cl, true)
	})
}

// forgeSetup is a cluster with the file written and one node's replicas
// forged, and the three front ends over it.
type forgeSetup struct {
	cl     *testcluster.Cluster
	data   []byte // what was written
	forged []byte // what the forged node now holds, in file order
	node   string // the forged node's data address
	sdk    *client.Client
	rest   string // REST API base URL
	s3     *minio.Client
}

func testForged(t *testing.T, cl *testcluster.Cluster, healthyLeft bool) {
	fs := setupForged(t, cl)
	// With three replicas the client picks one at random, so each read is
	// repeated until the forged node has served a request for it.
	tries := 1
	if healthyLeft {
		tries = 40
	}
	for _, rg := range forgedRanges {
		want := fs.slice(fs.data, rg)
		for _, path := range fs.paths() {
			t.Run(path.name+"/"+rg.name, func(t *testing.T) {
				before := fs.forgedReads(t)
				for i := 0; i < tries; i++ {
					got, err := path.read(t, rg)
					fs.check(t, got, err, want, rg, healthyLeft)
					if !healthyLeft && path.failStatus != 0 && statusOf(err) != path.failStatus {
						t.Fatalf("read %+v failed with status %d (%v), want %d", rg, statusOf(err), err, path.failStatus)
					}
					if healthyLeft && i >= 3 && fs.forgedReads(t) > before {
						break
					}
				}
				await.Until(t, 5*time.Second, func() error {
					if fs.forgedReads(t) == before {
						return fmt.Errorf("the forged node served no read in %d tries: the test proves nothing", tries)
					}
					return nil
				})
			})
		}
	}
}

// check fails the test if got holds a forged byte, or if a read that
// should have succeeded (a healthy replica is left) did not, or one that
// should have failed (no healthy replica) did.
func (fs *forgeSetup) check(t *testing.T, got []byte, err error, want []byte, rg forgedRange, healthyLeft bool) {
	t.Helper()
	if !bytes.HasPrefix(want, got) {
		i := firstDiff(got, want)
		t.Fatalf("read %+v returned %d bytes that differ from the written ones at %d (forged byte %v); err %v",
			rg, len(got), i, i < len(got) && got[i] == fs.slice(fs.forged, rg)[i], err)
	}
	switch {
	case healthyLeft && err != nil:
		t.Fatalf("read %+v failed although two healthy replicas are left: %v", rg, err)
	case healthyLeft && len(got) != len(want):
		t.Fatalf("read %+v returned %d of %d bytes", rg, len(got), len(want))
	case !healthyLeft && err == nil:
		t.Fatalf("read %+v of a file whose only replica is forged succeeded with %d bytes", rg, len(got))
	}
}

func (fs *forgeSetup) slice(b []byte, rg forgedRange) []byte {
	end := int64(len(b))
	if rg.n >= 0 {
		end = min(end, rg.off+rg.n)
	}
	return b[rg.off:end]
}

func setupForged(t *testing.T, cl *testcluster.Cluster) *forgeSetup {
	t.Helper()
	ctx := context.Background()
	fs := &forgeSetup{cl: cl, data: randBytes(1, 2<<20+512<<10)}
	fs.sdk = cl.NewClient(client.Options{})
	if _, err := fs.sdk.Mkdir(ctx, "/"+forgedBucket, client.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, fs.sdk, forgedPath, fs.data)

	f, err := fs.sdk.Open(ctx, forgedPath)
	if err != nil {
		t.Fatal(err)
	}
	chunks := f.Chunks()
	if len(chunks) != 3 {
		t.Fatalf("%d chunks, want 3", len(chunks))
	}
	fs.node = chunks[0].Replicas[0].Addr
	fs.forged = randBytes(2, len(fs.data))
	for _, ch := range chunks {
		forgeChunk(t, cl, fs.node, ch.ID, fs.forged[ch.Offset:ch.Offset+ch.Length])
	}

	rest := httptest.NewServer(httpapi.New(cl.NewClient(client.Options{}), httpapi.Options{}))
	t.Cleanup(rest.Close)
	fs.rest = rest.URL

	c := cl.NewClient(client.Options{TLS: cl.Cert("gateway", pki.Gateway, pki.Admin)})
	gw := s3.New(s3.Config{Store: c, Cluster: c.Admin()})
	if err := gw.EnsureUser(ctx, forgedAK, forgedSK); err != nil {
		t.Fatal(err)
	}
	s3srv := httptest.NewServer(gw)
	t.Cleanup(s3srv.Close)
	fs.s3, err = minio.New(s3srv.Listener.Addr().String(), &minio.Options{Creds: miniocreds.NewStaticV4(forgedAK, forgedSK, ""), Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := range cl.Nodes {
			cl.KillNode(i)
		}
	})
	return fs
}

// forgeChunk replaces chunk id on the data node at addr with forged
// bytes: it deletes the chunk and stores the forged bytes under the same
// ID with their own CRC, so the node's block CRCs agree with them. Only
// data nodes and metadata peers may delete chunks, so the forger is a
// rogue holder of a data node's certificate.
func forgeChunk(t *testing.T, c *testcluster.Cluster, addr string, id cairn.ChunkID, forged []byte) {
	t.Helper()
	url := c.URL(addr, "/v1/chunks/"+id.String())
	rogue := c.HTTPClient(c.Cert("rogue-node", pki.Node))
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	resp, err := rogue.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE %s: %s", url, resp.Status)
	}
	req, _ = http.NewRequest(http.MethodPut, url, bytes.NewReader(forged))
	req.Header.Set(cairnhttp.HeaderCRC, fmt.Sprintf("%08x", checksum.CRC32C(forged)))
	resp, err = rogue.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT forged %s: %v", url, cairnhttp.ReadError(resp))
	}
}

// forgedReads is how many chunk GETs the forged node finished, from its
// metrics: those it sent whole and those the reader cut short (counted as
// failed). A GET is counted after the reader has its reply.
func (fs *forgeSetup) forgedReads(t *testing.T) int {
	t.Helper()
	resp, err := fs.cl.HTTPClient(nil).Get(fs.cl.URL(fs.node, "/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "cairn_node_chunk_reads_total{") {
			f := strings.Fields(line)
			n, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			total += int(n)
		}
	}
	return total
}

// readPath is one way to read the file. failStatus, for the HTTP front
// ends, is the status a read must fail with when no replica is good: an
// error status, not a success status and a cut body.
type readPath struct {
	name       string
	read       func(t *testing.T, rg forgedRange) ([]byte, error)
	failStatus int
}

func (fs *forgeSetup) paths() []readPath {
	return []readPath{
		{"sdk-ReadRange", fs.sdkReadRange, 0},
		{"sdk-ReadAt", fs.sdkReadAt, 0},
		{"sdk-WriteRangeTo", fs.sdkWriteRangeTo, 0},
		{"sdk-Read-readahead", fs.sdkReadAhead, 0},
		{"rest", fs.restGet, http.StatusUnprocessableEntity}, // Corrupt
		{"s3", fs.s3Get, http.StatusInternalServerError},     // InternalError
	}
}

// statusOf is the HTTP status of a failed REST or S3 read, 0 if the
// request did not end with an error status.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.code
	}
	return minio.ToErrorResponse(err).StatusCode
}

func (fs *forgeSetup) size(rg forgedRange) int64 {
	if rg.n < 0 {
		return int64(len(fs.data)) - rg.off
	}
	return rg.n
}

func (fs *forgeSetup) sdkReadRange(t *testing.T, rg forgedRange) ([]byte, error) {
	return fs.sdk.ReadRange(context.Background(), forgedPath, rg.off, fs.size(rg))
}

func (fs *forgeSetup) sdkReadAt(t *testing.T, rg forgedRange) ([]byte, error) {
	f, err := fs.sdk.Open(context.Background(), forgedPath)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, fs.size(rg))
	n, err := f.ReadAt(buf, rg.off)
	if errors.Is(err, io.EOF) && n == len(buf) {
		err = nil
	}
	return buf[:n], err
}

func (fs *forgeSetup) sdkWriteRangeTo(t *testing.T, rg forgedRange) ([]byte, error) {
	f, err := fs.sdk.Open(context.Background(), forgedPath)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, err = f.WriteRangeTo(&buf, rg.off, fs.size(rg))
	return buf.Bytes(), err
}

// sdkReadAhead reads in 100-byte Reads, which File serves from its
// read-ahead window.
func (fs *forgeSetup) sdkReadAhead(t *testing.T, rg forgedRange) ([]byte, error) {
	f, err := fs.sdk.Open(context.Background(), forgedPath)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(rg.off, io.SeekStart); err != nil {
		return nil, err
	}
	var out []byte
	p := make([]byte, 100)
	for int64(len(out)) < fs.size(rg) {
		n, err := f.Read(p[:min(int64(len(p)), fs.size(rg)-int64(len(out)))])
		out = append(out, p[:n]...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (fs *forgeSetup) restGet(t *testing.T, rg forgedRange) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, fs.rest+"/v1/files"+forgedPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := http.StatusOK
	if rg.off != 0 || rg.n >= 0 {
		req.Header.Set("Range", httpRange(rg))
		wantStatus = http.StatusPartialContent
	}
	return readResponse(req, wantStatus)
}

func httpRange(rg forgedRange) string {
	if rg.n < 0 {
		return fmt.Sprintf("bytes=%d-", rg.off)
	}
	return fmt.Sprintf("bytes=%d-%d", rg.off, rg.off+rg.n-1)
}

// readResponse sends req and returns the body; a status other than want,
// or a body cut short, is an error (with the bytes that did arrive).
func readResponse(req *http.Request, want int) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, &statusError{code: resp.StatusCode, body: string(body)}
	}
	return body, err
}

// statusError is an HTTP response with an unexpected status.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("status %d: %s", e.code, e.body) }

func (fs *forgeSetup) s3Get(t *testing.T, rg forgedRange) ([]byte, error) {
	opts := minio.GetObjectOptions{}
	if rg.off != 0 || rg.n >= 0 {
		end := int64(0)
		if rg.n >= 0 {
			end = rg.off + rg.n - 1
		}
		if err := opts.SetRange(rg.off, end); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := fs.s3.GetObject(ctx, forgedBucket, forgedKey, opts)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}
