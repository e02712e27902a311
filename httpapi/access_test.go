package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
)

// rawDo sends one request with exactly the given Host header (net/http's
// client would take it from the URL) and headers (alternating names and
// values) over a new connection, and returns the answer.
func rawDo(t *testing.T, srv *httptest.Server, method, target, host string, hdr ...string) response {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n", method, target, host)
	for i := 0; i+1 < len(hdr); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", hdr[i], hdr[i+1])
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// wantRefused fails unless r is a 403 JSON error that names flag.
func (r response) wantRefused(t *testing.T, flag string) {
	t.Helper()
	r.wantErr(t, cairn.Permission)
	if !bytes.Contains(r.body, []byte(flag)) {
		t.Fatalf("refusal %q does not name %s", r.body, flag)
	}
}

func TestBrowserRequestsAreRefused(t *testing.T) {
	srv, c := newTestServer(t)
	ctx := context.Background()
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	do(t, srv, "PUT", "/v1/files/f", strings.NewReader("data")).want(t, http.StatusCreated)
	rename := "/v1/files/f?op=rename&to=/g"
	unchanged := func() {
		t.Helper()
		if _, err := c.Stat(ctx, "/f"); err != nil {
			t.Fatalf("/f after a refused request: %v", err)
		}
		if _, err := c.Stat(ctx, "/g"); !errors.Is(err, cairn.NotFound) {
			t.Fatalf("/g after a refused request: %v, want not found", err)
		}
	}

	t.Run("foreign origin", func(t *testing.T) {
		for _, method := range []string{"POST", "GET"} {
			rawDo(t, srv, method, rename, addr, "Origin", "http://evil.example").wantRefused(t, "--allowed-origins")
			rawDo(t, srv, method, rename, addr, "Origin", "null").wantRefused(t, "--allowed-origins")
			// The same host on another port is another origin.
			rawDo(t, srv, method, rename, addr, "Origin", "http://127.0.0.1:1").wantRefused(t, "--allowed-origins")
		}
		unchanged()
	})
	t.Run("foreign host", func(t *testing.T) {
		// A DNS-rebound page: its own name as Host, its own origin.
		rawDo(t, srv, "POST", rename, "evil.example:"+port).wantRefused(t, "--allowed-hosts")
		rawDo(t, srv, "POST", rename, "evil.example:"+port, "Origin", "http://evil.example:"+port).wantRefused(t, "--allowed-hosts")
		rawDo(t, srv, "GET", "/v1/files/f", "evil.example").wantRefused(t, "--allowed-hosts")
		unchanged()
	})
	t.Run("cross-site fetch", func(t *testing.T) {
		rawDo(t, srv, "POST", rename, addr, "Sec-Fetch-Site", "cross-site").wantRefused(t, "--allowed-origins")
		unchanged()
	})
	t.Run("allowed", func(t *testing.T) {
		for _, host := range []string{addr, "localhost:" + port, "[::1]:" + port, "127.1.2.3", "10.0.0.7:" + port} {
			rawDo(t, srv, "GET", "/v1/stat/f", host).want(t, http.StatusOK)
		}
		// Same origin, and a browser's own navigation.
		rawDo(t, srv, "GET", "/v1/stat/f", addr, "Origin", "http://"+addr, "Sec-Fetch-Site", "same-origin").want(t, http.StatusOK)
		rawDo(t, srv, "GET", "/v1/stat/f", "localhost:"+port, "Origin", "http://LOCALHOST:"+port).want(t, http.StatusOK)
		rawDo(t, srv, "GET", "/v1/stat/f", addr, "Sec-Fetch-Site", "none").want(t, http.StatusOK)
		// The CLI's and curl's requests carry no Origin.
		do(t, srv, "POST", rename, nil).want(t, http.StatusOK)
		do(t, srv, "POST", "/v1/files/g?op=rename&to=/f", nil).want(t, http.StatusOK)
	})
	t.Run("allowed by options", func(t *testing.T) {
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		open := httptest.NewServer(New(c, Options{Logger: log, AllowedHosts: []string{"files.example"},
			AllowedOrigins: []string{"https://app.example", "http://tool.example:8000"}}))
		defer open.Close()
		rawDo(t, open, "GET", "/v1/stat/f", "FILES.example:8080").want(t, http.StatusOK)
		rawDo(t, open, "GET", "/v1/stat/f", "other.example").wantRefused(t, "--allowed-hosts")
		rawDo(t, open, "GET", "/v1/stat/f", "files.example", "Origin", "https://app.example:443", "Sec-Fetch-Site", "cross-site").want(t, http.StatusOK)
		rawDo(t, open, "GET", "/v1/stat/f", "files.example", "Origin", "http://tool.example:8000").want(t, http.StatusOK)
		rawDo(t, open, "GET", "/v1/stat/f", "files.example", "Origin", "http://app.example").wantRefused(t, "--allowed-origins")

		wide := httptest.NewServer(New(c, Options{Logger: log, AllowedHosts: []string{"*"}, AllowedOrigins: []string{"*"}}))
		defer wide.Close()
		rawDo(t, wide, "GET", "/v1/stat/f", "whatever.example", "Origin", "http://evil.example").want(t, http.StatusOK)
	})
}
