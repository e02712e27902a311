package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
)

// dataPort sits between a client and the data nodes and changes chunk
// GETs as a test needs; it counts the verify requests the client sends.
type dataPort struct {
	base http.RoundTripper
	// oldNode drops crcs=all from chunk GETs (unless tamper is set), as
	// a node that predates it ignores the parameter.
	oldNode bool

	mu sync.Mutex
	// tamper, if set, changes a chunk GET reply's body.
	tamper   func(body []byte, h http.Header) []byte
	verifies int
}

func (d *dataPort) setTamper(f func(body []byte, h http.Header) []byte) {
	d.mu.Lock()
	d.tamper = f
	d.mu.Unlock()
}

func (d *dataPort) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/verify") {
		d.mu.Lock()
		d.verifies++
		d.mu.Unlock()
	}
	d.mu.Lock()
	tamper := d.tamper
	d.mu.Unlock()
	isGet := req.Method == http.MethodGet && strings.HasPrefix(req.URL.Path, "/v1/chunks/")
	if isGet && d.oldNode && tamper == nil {
		req = req.Clone(req.Context())
		q := req.URL.Query()
		q.Del("crcs")
		req.URL.RawQuery = q.Encode()
	}
	resp, err := d.base.RoundTrip(req)
	if err != nil || !isGet || tamper == nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(tamper(body, resp.Header)))
	return resp, nil
}

func (d *dataPort) verifyCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verifies
}

// newVerifyCluster writes a 3 MiB file (three 1 MiB chunks of 64 KiB
// sub-blocks) on a one-node cluster and returns a client whose data
// requests go through port.
func newVerifyCluster(t *testing.T, port *dataPort) (*client.Client, []byte) {
	t.Helper()
	c := testcluster.NewInProcess(t, testcluster.Options{Nodes: 1, Replication: 1})
	data := testcluster.RandBytes(9, 3<<20)
	if _, err := c.Client().WriteFile(context.Background(), "/f", bytes.NewReader(data), client.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	port.base = c.AdminCert().Transport(http.DefaultTransport.(*http.Transport).Clone())
	return c.NewClient(client.Options{Transport: port}), data
}

// TestRangedReadFromOldNodeFails: a node that answers a ranged read with
// the CRCs of the covered sub-blocks only cannot prove its bytes against
// metadata, so the read fails (Corrupt) and the node is not reported as
// holding a corrupt copy; whole-chunk reads, which carry every CRC
// anyway, still work.
func TestRangedReadFromOldNodeFails(t *testing.T) {
	port := &dataPort{oldNode: true}
	cl, data := newVerifyCluster(t, port)
	ctx := context.Background()
	for _, rg := range [][2]int64{{100, 4096}, {1<<20 + 70_000, 4096}, {65536, 65536}, {1<<20 - 10, 20}} {
		got, err := cl.ReadRange(ctx, "/f", rg[0], rg[1])
		if !errors.Is(err, cairn.Corrupt) || got != nil {
			t.Errorf("ReadRange(%d, %d) from an old node: %d bytes, %v; want Corrupt", rg[0], rg[1], len(got), err)
		}
	}
	got, err := cl.ReadRange(ctx, "/f", 0, int64(len(data)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole read from an old node: %d bytes, %v", len(got), err)
	}
	// A read with a forged CRC is reported; the reports of the reads
	// above, had there been any, were sent before it.
	port.setTamper(flipLastCRC)
	if _, err := cl.ReadRange(ctx, "/f", 0, 4096); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("read with a forged CRC: %v, want Corrupt", err)
	}
	await.Until(t, 10*time.Second, func() error {
		if port.verifyCount() == 0 {
			return errors.New("the client did not ask the node to verify its copy")
		}
		return nil
	})
	if n := port.verifyCount(); n != 1 {
		t.Errorf("the client asked the node to verify its copy %d times, want once (for the forged CRC only)", n)
	}
}

// flipLastCRC changes the last CRC of a reply that has more than one,
// which for a read of a few bytes at the chunk's start is the CRC of a
// sub-block the read does not cover.
func flipLastCRC(body []byte, h http.Header) []byte {
	if n, err := strconv.Atoi(h.Get("Cairn-Blocks")); err == nil && n > 1 {
		body[4*(n-1)] ^= 1
	}
	return body
}

// TestRangedReadWithForgedCRCs: the node's reply to a 4 KiB read has the
// right bytes and the right CRC for the sub-block they are in, but the CRC
// of the chunk's last sub-block was changed, as when the chunk on the node is not
// the one in metadata. The CRCs do not combine to the chunk's CRC in
// metadata, so the read fails (Corrupt) and the node is asked to verify.
func TestRangedReadWithForgedCRCs(t *testing.T) {
	port := &dataPort{tamper: flipLastCRC}
	cl, _ := newVerifyCluster(t, port)
	got, err := cl.ReadRange(context.Background(), "/f", 100, 4096)
	if !errors.Is(err, cairn.Corrupt) || got != nil {
		t.Fatalf("ReadRange with a forged CRC: %d bytes, %v; want Corrupt", len(got), err)
	}
	await.Until(t, 10*time.Second, func() error {
		if port.verifyCount() == 0 {
			return errors.New("the client did not ask the node to verify its copy")
		}
		return nil
	})
}
