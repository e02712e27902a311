package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/metarpc"
)

// This file is the one place where a role's ports get their protocol
// settings: every HTTP port is built by newHTTPServer and capped by
// limitListener, and the gRPC port gets grpcOptions. Transport security
// belongs here too.

// HTTPLimits bound what one client can hold on an HTTP port (the REST
// port, the data port, the S3 port). Zero fields take the values of
// DefaultHTTPLimits.
type HTTPLimits struct {
	// ReadHeaderTimeout is how long a client has to send a request's
	// line and headers once it started it, or after connecting.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that carries no request
	// for this long.
	IdleTimeout time.Duration
	// StallTimeout ends a request whose body delivers no byte for this
	// long, or whose response the client takes no part of (up to
	// stallPiece bytes) for this long. Transfers that keep moving, however
	// slowly, are never cut: the deadline moves with each read and write.
	StallTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxConns caps the connections the port holds at once; more wait in
	// the kernel's accept queue until one closes. Negative means no cap.
	MaxConns int
}

// DefaultHTTPLimits are the limits of every HTTP port unless its role's
// configuration says otherwise. See docs/operations.md for the reasons.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		StallTimeout:      30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		MaxConns:          4096,
	}
}

// withDefaults fills in zero fields and rejects negative durations.
func (l HTTPLimits) withDefaults(op string) (HTTPLimits, error) {
	def := DefaultHTTPLimits()
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&l.ReadHeaderTimeout, def.ReadHeaderTimeout}, {&l.IdleTimeout, def.IdleTimeout}, {&l.StallTimeout, def.StallTimeout}} {
		if *f.v < 0 {
			return l, cairn.E(op, cairn.Invalid, fmt.Errorf("HTTP limits: negative timeout %v", *f.v))
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if l.MaxHeaderBytes < 0 {
		return l, cairn.E(op, cairn.Invalid, fmt.Errorf("HTTP limits: negative MaxHeaderBytes %d", l.MaxHeaderBytes))
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = def.MaxHeaderBytes
	}
	if l.MaxConns == 0 {
		l.MaxConns = def.MaxConns
	}
	return l, nil
}

// newHTTPServer returns the server for one HTTP port of a role, serving h
// within lim. Serve it on limitListener(l, lim).
func newHTTPServer(h http.Handler, lim HTTPLimits) *http.Server {
	return &http.Server{
		Handler:           stallGuard(h, lim.StallTimeout),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
}

// limitListener caps the connections l holds at once at lim.MaxConns.
func limitListener(l net.Listener, lim HTTPLimits) net.Listener {
	if lim.MaxConns < 0 {
		return l
	}
	return netutil.LimitListener(l, lim.MaxConns)
}

// GRPCLimits bound what a client can hold on the metadata gRPC port. Zero
// fields take the values of DefaultGRPCLimits.
type GRPCLimits struct {
	// ConnectionTimeout is how long a new connection has to finish the
	// HTTP/2 handshake.
	ConnectionTimeout time.Duration
	// MaxConcurrentStreams caps the RPCs in flight on one connection;
	// further ones wait on the client side.
	MaxConcurrentStreams uint32
	// KeepaliveMinTime is the shortest interval at which clients may send
	// keepalive pings; a client pinging more often is disconnected.
	KeepaliveMinTime time.Duration
	// KeepaliveTime and KeepaliveTimeout: after KeepaliveTime without
	// activity the server pings the client, and closes the connection if
	// no answer comes within KeepaliveTimeout (a vanished client).
	KeepaliveTime, KeepaliveTimeout time.Duration
}

// DefaultGRPCLimits are the limits of the metadata gRPC port unless the
// configuration says otherwise. Messages are bounded by
// metarpc.MaxMessageSize in both directions, as on the client.
func DefaultGRPCLimits() GRPCLimits {
	return GRPCLimits{
		ConnectionTimeout:    10 * time.Second,
		MaxConcurrentStreams: 1024,
		KeepaliveMinTime:     10 * time.Second,
		KeepaliveTime:        2 * time.Minute,
		KeepaliveTimeout:     20 * time.Second,
	}
}

// withDefaults fills in zero fields and rejects negative durations.
func (g GRPCLimits) withDefaults(op string) (GRPCLimits, error) {
	def := DefaultGRPCLimits()
	for _, f := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&g.ConnectionTimeout, def.ConnectionTimeout}, {&g.KeepaliveMinTime, def.KeepaliveMinTime},
		{&g.KeepaliveTime, def.KeepaliveTime}, {&g.KeepaliveTimeout, def.KeepaliveTimeout}} {
		if *f.v < 0 {
			return g, cairn.E(op, cairn.Invalid, fmt.Errorf("gRPC limits: negative duration %v", *f.v))
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if g.MaxConcurrentStreams == 0 {
		g.MaxConcurrentStreams = def.MaxConcurrentStreams
	}
	return g, nil
}

// grpcOptions are the server options of the metadata gRPC port.
func grpcOptions(g GRPCLimits) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(metarpc.MaxMessageSize),
		grpc.MaxSendMsgSize(metarpc.MaxMessageSize),
		grpc.ConnectionTimeout(g.ConnectionTimeout),
		grpc.MaxConcurrentStreams(g.MaxConcurrentStreams),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: g.KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: g.KeepaliveTime, Timeout: g.KeepaliveTimeout}),
	}
}

// errNoDeadline is ResponseController's answer for a writer without
// deadlines (a test recorder): the guard then does nothing.
var errNoDeadline = http.ErrNotSupported

// errDeadline is what a read or write past its deadline fails with.
var errDeadline = os.ErrDeadlineExceeded

// stallPiece is the most a write hands the connection under one deadline:
// a response moves at least stallPiece bytes per StallTimeout or is cut.
const stallPiece = 128 << 10

// stallGuard ends requests that stop moving. Before every read of the
// request body it sets the connection's read deadline d ahead, and before
// every write of the response (in pieces of up to stallPiece) its write
// deadline, so a body that delivers no byte for d fails its read with a
// clear Invalid error (the handler stores nothing; see checkedBody and
// the data node's put), and a response the client stops taking fails its
// write. Neither deadline is armed while the handler works between reads
// or writes, so slow handlers and slow but steady transfers are not cut;
// only a body the handler leaves unread is bounded as a whole, by d from
// the start and again from the handler's end (net/http reads its rest).
func stallGuard(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Time{}); errors.Is(err, errNoDeadline) {
			next.ServeHTTP(w, r)
			return
		}
		sw := &stallWriter{ResponseWriter: w, rc: rc, d: d}
		var body *stallBody
		if r.Body != nil && r.Body != http.NoBody {
			body = &stallBody{body: r.Body, rc: rc, d: d}
			r2 := *r
			r2.Body = body
			r = &r2
			// net/http reads the rest of a body the handler left unread
			// before it sends the answer; this bounds that read too.
			_ = rc.SetReadDeadline(time.Now().Add(d))
		}
		next.ServeHTTP(sw, r)
		// Give what the server still does after the handler deadlines of
		// its own: read what is left of the body (d), then flush the
		// answer (d more). The next request on the connection sets or
		// clears them.
		flush := time.Now().Add(d)
		if body != nil && !body.done {
			_ = rc.SetReadDeadline(flush)
			flush = flush.Add(d)
		}
		_ = rc.SetWriteDeadline(flush)
	})
}

// stallBody is a request body whose every read must deliver within d.
// The read deadline is set before a read, never after one: once the body
// hit its end, net/http reads the connection in the background to notice
// a client that goes away, and a deadline set then would cut it.
type stallBody struct {
	body interface {
		Read([]byte) (int, error)
		Close() error
	}
	rc   *http.ResponseController
	d    time.Duration
	n    int64
	done bool // the body ended or failed: leave the deadline alone
}

func (b *stallBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.body.Read(p)
	b.n += int64(n)
	if err != nil {
		b.done = true
		if errors.Is(err, errDeadline) {
			return n, cairn.E("http", cairn.Invalid, fmt.Errorf("request body stalled: no byte arrived for %v after %d bytes; the request is abandoned", b.d, b.n))
		}
	}
	return n, err
}

func (b *stallBody) Close() error { return b.body.Close() }

// stallWriter is a ResponseWriter whose every write (of up to stallPiece
// bytes) must be taken by the client within d.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *stallWriter) arm() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *stallWriter) Write(p []byte) (int, error) {
	var n int
	for len(p) > 0 {
		k := min(len(p), stallPiece)
		w.arm()
		m, err := w.ResponseWriter.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// ReadFrom keeps the connection's sendfile path (the data port serves
// chunks from files) while arming the deadline for every piece. A piece
// of an *io.LimitedReader stays an *io.LimitedReader of the same source,
// which is what sendfile recognises.
func (w *stallWriter) ReadFrom(src io.Reader) (int64, error) {
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	var total int64
	for {
		piece := &io.LimitedReader{R: src, N: stallPiece}
		lr, isLimited := src.(*io.LimitedReader)
		if isLimited {
			if lr.N <= 0 {
				return total, nil
			}
			piece = &io.LimitedReader{R: lr.R, N: min(lr.N, stallPiece)}
		}
		want := piece.N
		w.arm()
		n, err := rf.ReadFrom(piece)
		total += n
		if isLimited {
			lr.N -= n
		}
		if err != nil || n < want {
			return total, err
		}
	}
}

func (w *stallWriter) Flush() {
	w.arm()
	_ = w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides ReadFrom, so io.Copy uses Write.
type writerOnly struct{ io.Writer }
