// Package metarpc is the client side of the metadata service's gRPC API,
// shared by the SDK and the data nodes: it finds the Raft leader among the
// configured peers, follows leader hints, retries across elections and
// converts errors with rpcerr. The API is one gRPC service per consumer
// (proto/cairn.proto); calls hand their callback the connection to the
// chosen peer, on which each consumer makes the stubs of the services it
// uses (cairnpb.NewNodesClient, cairnpb.NewNamespaceClient, ...).
// metarpc itself calls only the Cluster service, for discovery.
package metarpc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/rpcerr"
)

// Options tune a Conn. The zero value is usable.
type Options struct {
	// RetryFor bounds how long a call keeps retrying while no leader is
	// reachable (elections, restarts). Default 30s. The call's context can
	// end it sooner.
	RetryFor time.Duration
	// RefreshEvery is how often the Conn asks the cluster for its current
	// metadata peers (see discover.go); it also asks soon after a peer
	// fails. Default 2s; negative turns discovery off.
	RefreshEvery time.Duration
	// TLS is the caller's certificate directory; nil dials without TLS
	// (a cluster run with --insecure).
	TLS *pki.Source
}

// Conn talks to a metadata cluster through whichever peer leads.
type Conn struct {
	opts Options

	mu     sync.Mutex
	seeds  []string // the addresses given to Dial, kept as a fallback
	addrs  []string // learned peers first, then seeds
	conns  map[string]*grpc.ClientConn
	leader string
	closed bool
	disc   discovery
	// suspect holds peers that failed a probe: until when to avoid them,
	// and why.
	suspect map[string]suspicion
}

type suspicion struct {
	until time.Time
	cause error
}

// MaxMessageSize bounds one gRPC message in either direction.
const MaxMessageSize = 64 << 20

// ConnectTimeout bounds a connection attempt, TLS handshake included.
const ConnectTimeout = 3 * time.Second

// A frozen peer (SIGSTOP, a hung kernel or disk, a one-way partition)
// keeps its connections open and answers nothing, and gRPC's own
// keepalive pings cannot come more often than every 10 s. So a call that
// has waited ProbeAfter for its answer probes the peer with a cheap call
// (Peers, answered from memory) on the same connection, every ProbeAfter;
// a probe unanswered within ProbeTimeout gives the peer up: the call is
// canceled and retried at another peer (retries apply once; package
// requestid), and the peer is skipped, its leader hints ignored, for
// SuspectFor. A slow but live peer answers its probes, and its long calls
// (an fsck, a large listing) go on.
const (
	ProbeAfter   = time.Second
	ProbeTimeout = 2 * time.Second
	SuspectFor   = 3 * time.Second
)

// errSilent is the cause of an attempt canceled because its peer stopped
// answering probes.
var errSilent = errors.New("the metadata peer stopped answering")

// silentError marks a silent peer's failure as worth retrying elsewhere.
type silentError struct{ error }

func (e silentError) Unwrap() error   { return e.error }
func (e silentError) Retryable() bool { return true }

// connectBackoff spaces reconnection attempts to a peer that failed.
var connectBackoff = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}

// Dial prepares connections to the given metadata peers (host:port of their
// gRPC API). It does not block; the first call finds the leader.
func Dial(addrs []string, opts Options) (*Conn, error) {
	var clean []string
	for _, a := range addrs {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				clean = append(clean, p)
			}
		}
	}
	if len(clean) == 0 {
		return nil, cairn.E("metarpc.dial", cairn.Invalid, errors.New("no metadata addresses given; pass --meta host:port or set CAIRN_META"))
	}
	if opts.RetryFor == 0 {
		opts.RetryFor = 30 * time.Second
	}
	if opts.RefreshEvery == 0 {
		opts.RefreshEvery = 2 * time.Second
	}
	c := &Conn{opts: opts, seeds: clean, addrs: slices.Clone(clean), conns: map[string]*grpc.ClientConn{}}
	c.disc.init()
	return c, nil
}

// Addrs returns the peers this Conn knows about.
func (c *Conn) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.addrs...)
}

// conn returns the connection to the peer at addr, dialing it once.
func (c *Conn) conn(addr string) (grpc.ClientConnInterface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, cairn.E("metarpc", cairn.Canceled, errors.New("connection closed"))
	}
	cc, ok := c.conns[addr]
	if !ok {
		var err error
		creds := insecure.NewCredentials()
		if c.opts.TLS != nil {
			creds = c.opts.TLS.GRPCClient()
		}
		cc, err = grpc.NewClient(addr,
			grpc.WithTransportCredentials(creds),
			// No service config from DNS TXT records: Cairn has none, and
			// resolvers that never answer TXT queries (Docker's) would
			// stall every new connection for seconds.
			grpc.WithDisableServiceConfig(),
			// A connection attempt that does not complete its handshake
			// soon is given up (a frozen peer accepts connections and says
			// nothing); calls in flight are watched by probes (below).
			grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: ConnectTimeout, Backoff: connectBackoff}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)))
		if err != nil {
			return nil, cairn.E("metarpc.dial", cairn.Invalid, fmt.Errorf("metadata address %q: %w", addr, err))
		}
		c.conns[addr] = cc
	}
	return cc, nil
}

// candidate returns the address to try on the given attempt: the known
// leader first, then the peers in turn, passing over suspect peers while
// others remain.
func (c *Conn) candidate(attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" {
		return c.leader
	}
	for i := range c.addrs {
		a := c.addrs[(attempt+i)%len(c.addrs)]
		if !c.suspectLocked(a) {
			return a
		}
	}
	return c.addrs[attempt%len(c.addrs)]
}

// suspectLocked reports whether addr failed a probe within SuspectFor.
func (c *Conn) suspectLocked(addr string) bool {
	sus, ok := c.suspect[addr]
	if ok && time.Now().After(sus.until) {
		delete(c.suspect, addr)
		return false
	}
	return ok
}

func (c *Conn) isSuspect(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suspectLocked(addr)
}

// attempt runs fn against the peer at addr, probing the peer while fn
// waits (see ProbeAfter). A peer that fails a probe is marked suspect and
// its connection closed, which fails every call waiting on it (streams
// that outlive fn included); such failures come back retryable.
func (c *Conn) attempt(ctx context.Context, addr string, cc grpc.ClientConnInterface, fn func(context.Context, grpc.ClientConnInterface) error) error {
	var mu sync.Mutex
	finished := false
	var timer *time.Timer
	var probe func()
	probe = func() {
		pctx, pcancel := context.WithTimeout(ctx, ProbeTimeout)
		_, err := cairnpb.NewClusterClient(cc).Peers(pctx, &cairnpb.PeersRequest{})
		pcancel()
		mu.Lock()
		defer mu.Unlock()
		if finished || ctx.Err() != nil {
			return
		}
		// Any answer, even an error, shows the peer alive; only silence
		// (the deadline, or a connection that failed) gives it up.
		if code := status.Code(err); code == codes.DeadlineExceeded || code == codes.Unavailable {
			c.dropSilent(addr, cc, fmt.Errorf("%w at %s: no answer to a probe within %v (%v)", errSilent, addr, ProbeTimeout, err))
			return
		}
		timer = time.AfterFunc(ProbeAfter, probe)
	}
	mu.Lock()
	timer = time.AfterFunc(ProbeAfter, probe)
	mu.Unlock()
	err := fn(ctx, cc)
	mu.Lock()
	finished = true
	timer.Stop()
	mu.Unlock()
	if err != nil && ctx.Err() == nil {
		if cause := c.silentCause(addr); cause != nil {
			if code := status.Code(err); code == codes.Canceled || code == codes.Unavailable || code == codes.DeadlineExceeded {
				return cairn.E("metarpc", cairn.Unavailable, silentError{cause})
			}
		}
	}
	return err
}

// dropSilent marks addr suspect for SuspectFor and closes its connection
// (cc, if it is still the one in use), so that every call waiting on the
// silent peer fails at once and is retried elsewhere.
func (c *Conn) dropSilent(addr string, cc grpc.ClientConnInterface, cause error) {
	c.mu.Lock()
	if c.suspect == nil {
		c.suspect = map[string]suspicion{}
	}
	c.suspect[addr] = suspicion{until: time.Now().Add(SuspectFor), cause: cause}
	if c.leader == addr {
		c.leader = ""
	}
	var closing *grpc.ClientConn
	if cur, ok := c.conns[addr]; ok && grpc.ClientConnInterface(cur) == cc {
		closing = cur
		delete(c.conns, addr)
	}
	c.mu.Unlock()
	if closing != nil {
		closing.Close()
	}
}

// silentCause is why addr is suspect, nil if it is not.
func (c *Conn) silentCause(addr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.suspectLocked(addr) {
		return nil
	}
	return c.suspect[addr].cause
}

func (c *Conn) setLeader(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.leader = addr
	if addr == "" {
		return
	}
	for _, a := range c.addrs {
		if a == addr {
			return
		}
	}
	c.addrs = append(c.addrs, addr)
}

// Leader runs fn against the leader: fn gets the connection to it and
// calls the services it needs on it. It retries, with backoff, while the
// error says the peer is not the leader or is unreachable, for up to
// Options.RetryFor. Any other error is returned at once, converted to a
// *cairn.Error with the server's kind.
//
// A retried write may have been applied by a leader that failed before
// answering; Cairn's writes are built so that a repeat is harmless or fails
// with a clear kind (Exists, NotFound).
func (c *Conn) Leader(ctx context.Context, fn func(context.Context, grpc.ClientConnInterface) error) error {
	return c.call(ctx, true, fn)
}

// Any runs fn against any reachable peer (for stale reads), preferring the
// leader.
func (c *Conn) Any(ctx context.Context, fn func(context.Context, grpc.ClientConnInterface) error) error {
	return c.call(ctx, false, fn)
}

func (c *Conn) call(ctx context.Context, needLeader bool, fn func(context.Context, grpc.ClientConnInterface) error) error {
	deadline := time.Now().Add(c.opts.RetryFor)
	backoff := 20 * time.Millisecond
	var last error
	tlsFailures := 0 // consecutive failures to agree on TLS with a peer
	for attempt := 0; ; attempt++ {
		addr := c.candidate(attempt)
		cc, err := c.conn(addr)
		if err != nil {
			return err
		}
		err = rpcerr.FromStatus(c.attempt(ctx, addr, cc, fn))
		if err == nil {
			if needLeader {
				c.setLeader(addr)
			}
			c.maybeRefresh(false)
			return nil
		}
		if cairn.KindOf(err) != cairn.NotLeader && !rpcerr.IsRetryable(err) {
			return err
		}
		// A peer that cannot agree on TLS with us will not change its mind
		// in an election: once every peer refused, say why at once.
		if terr := c.tlsMismatch(addr, err); terr != nil {
			if tlsFailures++; tlsFailures >= len(c.Addrs()) {
				return terr
			}
		} else {
			tlsFailures = 0
		}
		c.maybeRefresh(true)
		last = err
		var hint *rpcerr.LeaderHint
		if errors.As(err, &hint) && hint.Addr != "" && hint.Addr != addr && !c.isSuspect(hint.Addr) {
			c.setLeader(hint.Addr)
			continue // follow the hint without sleeping
		}
		c.setLeader("")
		if ctx.Err() != nil {
			return cairn.E(cairn.Canceled, fmt.Errorf("%w (last error: %v)", ctx.Err(), last))
		}
		if time.Now().After(deadline) {
			return cairn.E(cairn.Unavailable, fmt.Errorf("no metadata leader reachable at %s after %v: %w; check that the metadata peers run and can elect a leader",
				strings.Join(c.Addrs(), ","), c.opts.RetryFor, last))
		}
		if attempt%len(c.Addrs()) == len(c.Addrs())-1 {
			sleep := backoff/2 + rand.N(backoff/2+1)
			select {
			case <-ctx.Done():
				return cairn.E(cairn.Canceled, fmt.Errorf("%w (last error: %v)", ctx.Err(), last))
			case <-time.After(sleep):
			}
			backoff = min(backoff*2, time.Second)
		}
	}
}

// Close closes every connection.
func (c *Conn) Close() error {
	c.disc.stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var first error
	for _, cc := range c.conns {
		if err := cc.Close(); err != nil && first == nil {
			first = err
		}
	}
	c.conns = nil
	return first
}

// tlsMismatch explains an error that says this client and the peer at
// addr do not agree on TLS (one side runs --insecure, or the handshake
// failed); nil for any other error.
func (c *Conn) tlsMismatch(addr string, err error) error {
	msg := err.Error()
	if c.opts.TLS != nil && cairn.KindOf(err) == cairn.Unavailable {
		if verr := c.opts.TLS.CheckValid(time.Now()); verr != nil {
			return cairn.E("metarpc", cairn.Permission, fmt.Errorf("the metadata peer at %s refused the connection: %w", addr, verr))
		}
	}
	switch {
	case c.opts.TLS == nil && strings.Contains(msg, "error reading server preface"):
		return cairn.E("metarpc", cairn.Permission, fmt.Errorf("the metadata peer at %s closed the connection without speaking gRPC: it requires TLS; give a client certificate directory (--certs-dir or CAIRN_CERTS_DIR): %w", addr, err))
	case c.opts.TLS != nil && strings.Contains(msg, "first record does not look like a TLS handshake"):
		return cairn.E("metarpc", cairn.Permission, fmt.Errorf("the metadata peer at %s does not speak TLS (it runs with --insecure); connect with --insecure: %w", addr, err))
	case strings.Contains(msg, "authentication handshake failed"), strings.Contains(msg, "remote error: tls:"):
		return cairn.E("metarpc", cairn.Permission, fmt.Errorf("TLS with the metadata peer at %s failed: %w; check the certificate directory (signed by the cluster's CA, not expired, naming the host dialed)", addr, err))
	}
	return nil
}
