package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
)

// patience bounds every wait in these tests for something the server
// must do; it is far above the short limits they configure, so a slow
// machine does not fail them.
const patience = 10 * time.Second

// serveTest serves h on a loopback port the way a role serves its HTTP
// ports, within lim, until the test ends; it returns the address.
func serveTest(t *testing.T, h http.Handler, lim HTTPLimits) string {
	t.Helper()
	lim, err := lim.withDefaults("test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, lim)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(limitListener(l, lim)) }()
	t.Cleanup(func() {
		// Shutdown also waits for connections the server is still
		// closing (after a 431 it lingers before the close).
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
		<-done
	})
	return l.Addr().String()
}

// dialTest opens a raw connection to addr, closed when the test ends.
func dialTest(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readResponse reads one response from c, waiting at most patience.
func readResponse(t *testing.T, c net.Conn, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	resp.Body.Close()
	return resp, string(b)
}

// waitClosed fails unless the server closes c (a read ends with EOF or a
// reset) within patience.
func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(patience))
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %v", patience)
	}
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })

func TestIdleConnectionsAreClosed(t *testing.T) {
	addr := serveTest(t, okHandler, HTTPLimits{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 100 * time.Millisecond})

	t.Run("after a request", func(t *testing.T) {
		c := dialTest(t, addr)
		br := bufio.NewReader(c)
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, body := readResponse(t, c, br, "GET"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
		}
		waitClosed(t, c, br)
	})
	t.Run("silent from the start", func(t *testing.T) {
		c := dialTest(t, addr)
		waitClosed(t, c, bufio.NewReader(c))
	})
	t.Run("headers never finished", func(t *testing.T) {
		c := dialTest(t, addr)
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		waitClosed(t, c, bufio.NewReader(c))
	})
}

func TestHeaderSizeIsCapped(t *testing.T) {
	addr := serveTest(t, okHandler, HTTPLimits{MaxHeaderBytes: 4 << 10})
	c := dialTest(t, addr)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
	// The server answers and closes without reading the rest, so only the
	// status line is sure to arrive.
	_ = c.SetReadDeadline(time.Now().Add(patience))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
}

// bodyHandler reads the whole body and answers its length, or the read
// error through the error table; each read error is also sent on errs.
func bodyHandler(errs chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			errs <- err
			cairnhttp.WriteError(w, err)
			return
		}
		fmt.Fprint(w, len(b))
	})
}

func TestStalledBodyEndsTheRequest(t *testing.T) {
	errs := make(chan error, 1)
	addr := serveTest(t, bodyHandler(errs), HTTPLimits{StallTimeout: 100 * time.Millisecond})
	c := dialTest(t, addr)
	fmt.Fprint(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	resp, body := readResponse(t, c, bufio.NewReader(c), "PUT")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "stalled") {
		t.Fatalf("got %d %q, want 400 saying the body stalled", resp.StatusCode, body)
	}
	if err := <-errs; cairn.KindOf(err) != cairn.Invalid || !strings.Contains(err.Error(), "after 10 bytes") {
		t.Fatalf("handler's read error %v, want Invalid after 10 bytes", err)
	}
	if !resp.Close {
		t.Error("the connection stays open after a stalled body")
	}
}

// A handler that answers without reading the body: net/http reads the
// rest of it before sending the answer, and that read must not wait for a
// body that never comes.
func TestStalledUnreadBodyIsAnswered(t *testing.T) {
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "refused", http.StatusForbidden)
	}), HTTPLimits{StallTimeout: 100 * time.Millisecond})
	c := dialTest(t, addr)
	br := bufio.NewReader(c)
	fmt.Fprint(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
	if resp, _ := readResponse(t, c, br, "PUT"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", resp.StatusCode)
	}
	waitClosed(t, c, br)
}

func TestSlowBodyThatKeepsMovingSucceeds(t *testing.T) {
	const stall, gap, pieces = 500 * time.Millisecond, 100 * time.Millisecond, 8 // 800 ms in all
	errs := make(chan error, 1)
	addr := serveTest(t, bodyHandler(errs), HTTPLimits{StallTimeout: stall})
	c := dialTest(t, addr)
	fmt.Fprintf(c, "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", pieces*10)
	for i := 0; i < pieces; i++ {
		time.Sleep(gap)
		if _, err := c.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	if resp, body := readResponse(t, c, bufio.NewReader(c), "PUT"); resp.StatusCode != 200 || body != "80" {
		t.Fatalf("got %d %q, want 200 80", resp.StatusCode, body)
	}
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestStalledResponseEndsTheRequest(t *testing.T) {
	for name, send := range map[string]func(w http.ResponseWriter) error{
		"Write": func(w http.ResponseWriter) error {
			buf := make([]byte, 1<<20)
			for i := 0; i < 4096; i++ { // 4 GiB at most; the socket fills long before
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return nil
		},
		"ReadFrom": func(w http.ResponseWriter) error {
			_, err := io.Copy(w, &io.LimitedReader{R: zeros{}, N: 4 << 30})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			errs := make(chan error, 1)
			addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/octet-stream")
				errs <- send(w)
			}), HTTPLimits{StallTimeout: 100 * time.Millisecond})
			c := dialTest(t, addr)
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
			select {
			case err := <-errs:
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("the handler's write ended with %v, want a deadline error", err)
				}
			case <-time.After(patience):
				t.Fatalf("the handler still writes to a client that reads nothing after %v", patience)
			}
		})
	}
}

func TestGuardedDownloadIsExact(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (3*stallPiece+13)/16+1)
	file := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(file)
		if err != nil {
			cairnhttp.WriteError(w, err)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data[:7])                                                                 // through Write
		io.Copy(w, &io.LimitedReader{R: f, N: int64(len(data))})                          // ReadFrom, in pieces
		io.Copy(w, io.MultiReader(bytes.NewReader(data[:3]), io.LimitReader(zeros{}, 5))) // ReadFrom of another reader
	}), HTTPLimits{})
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{}, data[:7]...), data...), append(data[:3:3], make([]byte, 5)...)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d (the same bytes: %v)", len(got), len(want), bytes.Equal(got[:min(len(got), len(want))], want[:min(len(got), len(want))]))
	}
}

func TestConnectionsAreCapped(t *testing.T) {
	addr := serveTest(t, okHandler, HTTPLimits{MaxConns: 1})
	first := dialTest(t, addr)
	br1 := bufio.NewReader(first)
	fmt.Fprint(first, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponse(t, first, br1, "GET") // first now holds the only slot, idle

	second := dialTest(t, addr)
	br2 := bufio.NewReader(second)
	fmt.Fprint(second, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = second.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br2.Peek(1); err == nil {
		t.Fatal("a second connection was served while the first held the only slot")
	}
	first.Close()
	if resp, body := readResponse(t, second, br2, "GET"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after the first closed: %d %q, want 200 ok", resp.StatusCode, body)
	}
}

func TestGRPCHandshakeTimeout(t *testing.T) {
	g, err := GRPCLimits{ConnectionTimeout: 100 * time.Millisecond}.withDefaults("test")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpcOptions(g)...)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	defer func() { srv.Stop(); <-done }()
	c := dialTest(t, l.Addr().String()) // sends no HTTP/2 preface
	waitClosed(t, c, bufio.NewReader(c))
}

func TestLimitsDefaultsAndValidation(t *testing.T) {
	got, err := HTTPLimits{StallTimeout: time.Second}.withDefaults("test")
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultHTTPLimits()
	want.StallTimeout = time.Second
	if got != want {
		t.Errorf("withDefaults: %+v, want %+v", got, want)
	}
	if _, err := (HTTPLimits{IdleTimeout: -1}).withDefaults("test"); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("negative idle timeout: %v, want Invalid", err)
	}
	if _, err := (GRPCLimits{KeepaliveTime: -1}).withDefaults("test"); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("negative keepalive: %v, want Invalid", err)
	}
}
