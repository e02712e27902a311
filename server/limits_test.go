package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/server"
)

// startServer starts a single-process server without a gateway, edited
// by edit, waits until it is ready and shuts it down when the test ends.
func startServer(t *testing.T, edit func(*server.Config)) server.Config {
	t.Helper()
	cfg := testConfig(t, listenLoopback(t))
	cfg.Gateway = nil
	edit(&cfg)
	s, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-s.Ready():
	case <-ctx.Done():
		t.Fatal("the server was not ready within 30s")
	}
	return s.Config()
}

// rawRequest writes head (the request line and headers, without the
// blank line) and then body in pieces, each after gap, on a new
// connection to addr, and returns the status and body of the answer. A
// connection closed without an answer is status 0.
func rawRequest(t *testing.T, addr, head string, gap time.Duration, body ...string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "%s\r\nHost: %s\r\n\r\n", head, addr)
	for _, piece := range body {
		time.Sleep(gap)
		if _, err := io.WriteString(c, piece); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	method, _, _ := strings.Cut(head, " ")
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStalledUploadsStoreNothing: a PUT whose body stops short of its
// Content-Length ends after the stall timeout with a 400 that says so,
// on the REST port and on the data port, and stores nothing; a body that
// arrives slowly but steadily is stored.
func TestStalledUploadsStoreNothing(t *testing.T) {
	const stall = 500 * time.Millisecond
	cfg := startServer(t, func(c *server.Config) {
		c.Meta.HTTPLimits.StallTimeout = stall
		c.Node.HTTPLimits.StallTimeout = stall
	})
	rest, data := cfg.Meta.HTTP.Addr().String(), cfg.Node.Listener.Addr().String()

	code, body := rawRequest(t, rest, "PUT /v1/files/stalled HTTP/1.1\r\nContent-Length: 1000", 0, "0123456789")
	if code != http.StatusBadRequest || !strings.Contains(body, "stalled") {
		t.Errorf("stalled REST upload: %d %q, want 400 saying the body stalled", code, body)
	}
	if code, body := get(rest, "/v1/stat/stalled"); code != http.StatusNotFound {
		t.Errorf("after a stalled upload, stat: %d %q, want 404", code, body)
	}

	id := cairn.NewChunkID().String()
	code, body = rawRequest(t, data, "PUT /v1/chunks/"+id+" HTTP/1.1\r\nCairn-Crc32c: 00000000\r\nContent-Length: 1000", 0, "0123456789")
	if code != http.StatusBadRequest || !strings.Contains(body, "stalled") {
		t.Errorf("stalled chunk upload: %d %q, want 400 saying the body stalled", code, body)
	}
	if code, _ := rawRequest(t, data, "HEAD /v1/chunks/"+id+" HTTP/1.1", 0); code != http.StatusNotFound {
		t.Errorf("after a stalled chunk upload, HEAD: %d, want 404", code)
	}

	// 8 pieces 100 ms apart: longer in all than the stall timeout, but
	// never silent for that long.
	pieces := strings.Split(strings.Repeat("slow-but-steady/", 8), "/")[:8]
	code, body = rawRequest(t, rest, "PUT /v1/files/slow HTTP/1.1\r\nContent-Length: 120", stall/5, pieces...)
	if code != http.StatusCreated {
		t.Fatalf("slow REST upload: %d %q, want 201", code, body)
	}
	if code, body := get(rest, "/v1/files/slow"); code != 200 || body != strings.Join(pieces, "") {
		t.Errorf("slow upload reads back as %d %q", code, body)
	}
}

// TestHTTPPortPathsAndPprof: the HTTP port hands the REST API paths with
// ".." as they came (a 400, not ServeMux's redirect to the cleaned path),
// and serves /debug/pprof/ only when asked to.
func TestHTTPPortPathsAndPprof(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof=%v", pprof), func(t *testing.T) {
			cfg := startServer(t, func(c *server.Config) { c.Meta.Pprof = pprof })
			addr := cfg.Meta.HTTP.Addr().String()
			want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[pprof]
			if code, _ := get(addr, "/debug/pprof/"); code != want {
				t.Errorf("/debug/pprof/: %d, want %d", code, want)
			}
			if pprof {
				return
			}
			for _, head := range []string{"GET /v1/files/a/../b HTTP/1.1", "PUT /v1/files/a/../b HTTP/1.1\r\nContent-Length: 1"} {
				code, body := rawRequest(t, addr, head, 0, "x")
				if code != http.StatusBadRequest || !strings.Contains(body, "..") {
					t.Errorf("%s: %d %q, want 400 naming the .. segment", strings.Fields(head)[0], code, body)
				}
			}
			if code, _ := get(addr, "/v1/stat/b"); code != http.StatusNotFound {
				t.Errorf("a PUT to a/../b created /b: stat %d", code)
			}
		})
	}
}

// TestPprofOnlyForAdmins: on a secured server, /debug/pprof/ (with
// --pprof) answers admin certificates only; health and metrics need none.
func TestPprofOnlyForAdmins(t *testing.T) {
	ca, err := pki.CreateCA("pprof test", 0)
	if err != nil {
		t.Fatal(err)
	}
	certs := map[string]*pki.Source{}
	for name, roles := range map[string][]pki.Role{
		"server": {pki.Meta, pki.Node, pki.Gateway, pki.Admin}, "root": {pki.Admin}, "alice": {pki.User},
	} {
		dir := filepath.Join(t.TempDir(), name)
		if err := ca.WriteCertDir(dir, pki.CertSpec{Name: name, Roles: roles, Hosts: []string{"127.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
		if certs[name], err = pki.Load(dir, nil); err != nil {
			t.Fatal(err)
		}
	}
	cfg := startServer(t, func(c *server.Config) {
		c.Meta.Pprof = true
		c.Meta.Meta.TLS, c.Node.Node.TLS = certs["server"], certs["server"]
	})
	url := "https://" + cfg.Meta.HTTP.Addr().String()
	for _, tc := range []struct {
		who  string
		path string
		want int
	}{
		{"", "/debug/pprof/", http.StatusForbidden},
		{"alice", "/debug/pprof/", http.StatusForbidden},
		{"root", "/debug/pprof/", http.StatusOK},
		{"", "/healthz", http.StatusOK},
		{"", "/metrics", http.StatusOK},
	} {
		c := probeClient
		if tc.who != "" {
			c = &http.Client{Timeout: 10 * time.Second, Transport: certs[tc.who].Transport(&http.Transport{})}
		}
		resp, err := c.Get(url + tc.path)
		if err != nil {
			t.Fatalf("%s as %q: %v", tc.path, tc.who, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s as %q: %d, want %d", tc.path, tc.who, resp.StatusCode, tc.want)
		}
	}
}
