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
	"google.golang.org/grpc/credentials/insecure"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
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
}

// MaxMessageSize bounds one gRPC message in either direction.
const MaxMessageSize = 64 << 20

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
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)))
		if err != nil {
			return nil, cairn.E("metarpc.dial", cairn.Invalid, fmt.Errorf("metadata address %q: %w", addr, err))
		}
		c.conns[addr] = cc
	}
	return cc, nil
}

// candidate returns the address to try on the given attempt: the known
// leader first, then the peers in turn.
func (c *Conn) candidate(attempt int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader != "" {
		return c.leader
	}
	return c.addrs[attempt%len(c.addrs)]
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
		err = rpcerr.FromStatus(fn(ctx, cc))
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
		if errors.As(err, &hint) && hint.Addr != "" && hint.Addr != addr {
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
