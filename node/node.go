// Package node is Cairn's data node: it stores chunks in a volume.Store,
// serves chunk reads and writes on the data port over HTTP, forwards writes
// down the replication chain, and registers and heartbeats with the metadata
// leader. It never imports the metadata service; it speaks its gRPC API.
package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/bwlimit"
	"github.com/cairnfs/cairn/internal/stall"
	"github.com/cairnfs/cairn/metarpc"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/token"
	"github.com/cairnfs/cairn/volume"
)

// Config configures a data node.
type Config struct {
	Dir       string   // data directory: node identity and volume files
	Advertise string   // host:port where clients and peers reach the data port
	Meta      []string // metadata peers' gRPC addresses
	Zone      string   // failure domain labels
	Rack      string
	Capacity  int64 // bytes offered; 0 = the file system's size

	HeartbeatInterval time.Duration // default 1s
	// MetaTimeout bounds one registration or heartbeat, retries included,
	// and how long the node keeps retrying a metadata call before it gives
	// up (a planned stop's Leave too); default 5s.
	MetaTimeout time.Duration
	// ReadyAfterBeat is how recent the last successful heartbeat must be
	// for the node to report ready; default 10 heartbeats, at least 10s.
	ReadyAfterBeat time.Duration
	// ScrubBytesPerSec bounds the scrubber's reads; 0 turns it off. The
	// scrubber starts a new pass at most every ScrubInterval.
	ScrubBytesPerSec int64
	ScrubInterval    time.Duration
	// RepairBytesPerSec bounds how fast this node pulls repair copies; 0 =
	// unlimited.
	RepairBytesPerSec int64
	// ReconcileInterval is how often the node checks its chunks against the
	// metadata (default 10m); a chunk no file needs here is deleted once two
	// checks ReconcileGrace apart agree (default 15m).
	ReconcileInterval time.Duration
	ReconcileGrace    time.Duration
	MaxChunkSize      int64 // largest chunk accepted; default 64 MiB
	Volume            volume.Options
	Logger            *slog.Logger
	Registry          *prometheus.Registry // metrics go here; default a fresh one
	// Transport carries forwarded writes to the next replica; default a
	// tuned http.Transport. Tests wrap it to inject faults.
	Transport http.RoundTripper
	// TLS is the node's certificate directory: its calls to the metadata
	// peers and to other nodes are mutual TLS (the data port's listener is
	// secured by package server with the same source), and its handler
	// refuses repair and delete requests from identities other than
	// metadata peers and nodes, and user requests without a capability
	// token from the metadata leader. Nil runs without TLS (--insecure).
	TLS *pki.Source
	// TokenSkew is how long after its expiry a token is still accepted,
	// for clocks that differ; default 30s.
	TokenSkew time.Duration
	// Reserve is the free space the node keeps: below it the node counts
	// as full (no new chunks are placed on it; see space.go), and it
	// refuses a chunk that would leave less than half of it. Default
	// twice MaxChunkSize, at most a twentieth of the disk.
	Reserve int64
	// ForwardPatience is the least time the next replica of a write chain
	// may go without taking bytes or answering before this node gives it
	// up and reports it failed (the client then rewrites the chunk
	// elsewhere), per replica from the next one to the end of the chain
	// (so each hop gives up on a frozen successor before its predecessor
	// gives up on it). The node waits longer, up to 4×, when healthy
	// forwards have been that slow (4 × their 99th percentile). Default
	// 1.5s.
	ForwardPatience time.Duration
}

// Validate checks the configuration and fills in its defaults. New calls
// it; a caller that wants the effective configuration before New (package
// server does) may call it first: a second call changes nothing.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("node: Dir is empty"))
	}
	if c.Advertise == "" {
		errs = append(errs, errors.New("node: Advertise address is empty"))
	}
	if len(c.Meta) == 0 {
		errs = append(errs, errors.New("node: no metadata addresses"))
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.MetaTimeout <= 0 {
		c.MetaTimeout = 5 * time.Second
	}
	if c.ReadyAfterBeat <= 0 {
		c.ReadyAfterBeat = max(10*c.HeartbeatInterval, 10*time.Second)
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = 10 * time.Minute
	}
	if c.ReconcileGrace <= 0 {
		c.ReconcileGrace = 15 * time.Minute
	}
	if c.ScrubInterval <= 0 {
		c.ScrubInterval = 24 * time.Hour
	}
	if c.MaxChunkSize <= 0 {
		c.MaxChunkSize = 64 << 20
	}
	if c.TokenSkew <= 0 {
		c.TokenSkew = 30 * time.Second
	}
	if c.ForwardPatience <= 0 {
		c.ForwardPatience = 1500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Transport == nil {
		c.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute,
			DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
		c.TLS.Transport(c.Transport.(*http.Transport))
	}
	if len(errs) > 0 {
		return cairn.E("node.config", cairn.Invalid, errors.Join(errs...))
	}
	return nil
}

// Node is a running data node. It owns the lifecycle, identity, readiness
// and the store, and wires two parts: data serves the data port, link
// talks to the metadata service.
type Node struct {
	cfg     Config
	id      cairn.NodeID
	store   *volume.Store
	meta    *metarpc.Conn
	client  *http.Client
	metrics *metrics
	health  *diskHealth
	space   *diskSpace
	data    *dataServer
	link    *metaLink

	ctx    context.Context // ends at Close, cutting off metadata calls in flight
	cancel context.CancelFunc
	stop   chan struct{}
	wg     sync.WaitGroup

	lifeMu   sync.Mutex
	started  atomic.Bool // Start opened the store: Close has something to close
	closed   bool
	closeErr error
}

// New validates cfg and fills in its defaults (Config returns the
// result). It starts nothing: no goroutine runs and nothing on disk is
// touched until Start.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, stop: make(chan struct{}),
		client:  &http.Client{Transport: cfg.Transport},
		metrics: newMetrics(cfg.Registry),
		health:  newDiskHealth(cfg.Logger)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	var tokens *token.Verifier
	if cfg.TLS != nil {
		tokens = token.NewVerifier(tokenCache, cfg.TokenSkew)
	}
	n.space = newDiskSpace(&n.cfg, cfg.Registry)
	n.link = &metaLink{cfg: &n.cfg, health: n.health, ctx: n.ctx, tokens: tokens, space: n.space}
	n.data = &dataServer{cfg: &n.cfg, client: n.client, metrics: n.metrics, health: n.health,
		repairLimit: bwlimit.New(cfg.RepairBytesPerSec), scrubLimit: bwlimit.New(cfg.ScrubBytesPerSec),
		reportCorrupt: n.link.reportCorrupt, reportSlow: n.link.reportSlow, tokens: tokens, space: n.space,
		forwardPatience: stall.NewTracker(cfg.ForwardPatience, 4*cfg.ForwardPatience, 4)}
	return n, nil
}

// Config returns the node's configuration with every default filled in.
func (n *Node) Config() Config { return n.cfg }

// Start opens the node's data directory (creating its identity on first
// use), recovers its volumes, and launches registration, heartbeats, the
// scrubber and reconciliation; it returns without waiting for the
// metadata service. Serve Handler only after Start returned. It fails when
// the node was started before or closed; a failed Start releases what it
// opened and leaves the node closed.
func (n *Node) Start(ctx context.Context) error {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	switch {
	case n.closed:
		return cairn.E("node.start", cairn.Invalid, errors.New("the data node was closed; make a new one with New"))
	case n.started.Load():
		return cairn.E("node.start", cairn.Invalid, errors.New("the data node is already started"))
	}
	if err := n.open(ctx); err != nil {
		n.closed, n.closeErr = true, err
		close(n.stop)
		n.cancel()
		return err
	}
	n.started.Store(true)
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.link.heartbeatLoop(n.stop) }()
	go func() { defer n.wg.Done(); n.data.scrubLoop(n.ctx) }()
	go func() { defer n.wg.Done(); n.link.reconcileLoop() }()
	return nil
}

// open opens the identity, the store and the metadata connection.
func (n *Node) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return cairn.E("node.start", err)
	}
	if tightened, err := pki.PrivateDir(n.cfg.Dir); err != nil {
		return cairn.E("node.start", cairn.Internal, err)
	} else if tightened {
		n.cfg.Logger.Warn("the data node's folder was readable by other users; made it private (0700)", "dir", n.cfg.Dir)
	}
	id, err := loadID(n.cfg.Dir, certNodeID(n.cfg.TLS))
	if err != nil {
		return err
	}
	vo := n.cfg.Volume
	vo.Dir = filepath.Join(n.cfg.Dir, "volumes")
	if vo.Logger == nil {
		vo.Logger = n.cfg.Logger
	}
	store, err := volume.Open(vo)
	if err != nil {
		return err
	}
	meta, err := metarpc.Dial(n.cfg.Meta, metarpc.Options{RetryFor: n.cfg.MetaTimeout, TLS: n.cfg.TLS})
	if err != nil {
		store.Close()
		return err
	}
	n.id, n.store, n.meta = id, store, meta
	n.link.id, n.link.store, n.link.meta = id, store, meta
	n.data.id, n.data.store = id, store
	n.space.store = store
	n.metrics.registerStore(n.cfg.Registry, store)
	return nil
}

// certNodeID is the node ID a certificate names: the name of a node
// certificate that names one node (not a fleet pattern like node-*, not a
// certificate that is a metadata peer's too, as cairn server's is); ""
// for any other certificate and without TLS.
func certNodeID(src *pki.Source) string {
	if src == nil {
		return ""
	}
	id := src.Identity()
	if !id.Has(pki.Node) || id.Has(pki.Meta) || strings.HasSuffix(id.Name, "*") {
		return ""
	}
	return id.Name
}

// loadID reads the node's identity, creating it on first start: the ID
// its certificate names (certID), or else node-<8 random hex digits>. An
// ID stored before stays, whatever the certificate says now (the
// metadata service refuses it if the certificate does not cover it).
func loadID(dir, certID string) (cairn.NodeID, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	if err == nil {
		return cairn.NodeID(strings.TrimSpace(string(b))), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", cairn.E("node.id", cairn.Internal, err)
	}
	id := certID
	if id == "" {
		var r [4]byte
		rand.Read(r[:])
		id = "node-" + hex.EncodeToString(r[:])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o644); err != nil {
		return "", cairn.E("node.id", cairn.Internal, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", cairn.E("node.id", cairn.Internal, err)
	}
	return cairn.NodeID(id), nil
}

// ID returns the node's identity ("" before Start).
func (n *Node) ID() cairn.NodeID { return n.id }

// MetaAddrs returns the metadata addresses the node currently knows (it
// follows the cluster's membership); nil before Start.
func (n *Node) MetaAddrs() []string {
	if n.meta == nil {
		return nil
	}
	return n.meta.Addrs()
}

// Store exposes the chunk store (tests corrupt and inspect it); nil
// before Start.
func (n *Node) Store() *volume.Store { return n.store }

// Ready reports whether the node can serve (see ReadyStatus).
func (n *Node) Ready() bool {
	ok, _ := n.ReadyStatus()
	return ok
}

// ReadyStatus reports whether the node can serve and, if not, why: it
// must be registered with the metadata leader, which must have accepted a
// heartbeat recently, know the token keys (with TLS), its disk probe must
// pass, and it must not be stopping.
func (n *Node) ReadyStatus() (bool, string) {
	switch {
	case !n.started.Load():
		return false, "not started"
	case n.link.stopping.Load():
		return false, "shutting down"
	case !n.link.registered.Load():
		return false, "not registered with the metadata leader yet (check that --meta " + strings.Join(n.cfg.Meta, ",") + " is reachable)"
	case n.data.tokens != nil && n.data.tokens.Keys() == 0:
		return false, "no capability token keys from the metadata leader yet: users' chunk requests are refused"
	}
	if ok, why := n.health.status(); !ok {
		return false, "disk unhealthy: " + why
	}
	if age := time.Since(time.Unix(0, n.link.lastBeat.Load())); age > n.cfg.ReadyAfterBeat {
		return false, "no heartbeat accepted by the metadata leader for " + age.Round(time.Second).String()
	}
	return true, "ok"
}

// Close stops heartbeats and closes the store, after waiting for every
// goroutine the node started. In-flight HTTP requests belong to the HTTP
// server, which the caller shuts down first. It is idempotent: later calls
// return the first call's result. Closing a node that was never started
// only marks it closed.
func (n *Node) Close() error {
	n.lifeMu.Lock()
	defer n.lifeMu.Unlock()
	if n.closed {
		return n.closeErr
	}
	n.closed = true
	close(n.stop)
	n.cancel()
	if !n.started.Load() {
		return nil
	}
	n.wg.Wait()
	n.meta.Close()
	n.client.CloseIdleConnections() // forwarding connections and their goroutines
	n.closeErr = n.store.Close()
	return n.closeErr
}

// Leave prepares a planned stop (a restart or a rolling update):
// readiness fails, heartbeats stop, and the metadata leader is told that
// the node is leaving, so it places no new chunks here, lists this node's
// replicas last, and does not repair its chunks unless it stays away past
// the dead timeout. If the leader cannot be reached the error is returned
// and the node still stops heartbeating: the leader then sees it as
// suspect, later dead, as after a crash. The caller stops serving next.
func (n *Node) Leave(ctx context.Context) error {
	n.link.stopping.Store(true)
	if !n.started.Load() {
		return nil // never registered: nobody to tell
	}
	return n.link.leave(ctx)
}

// Handler returns the data port's HTTP handler:
//
//	PUT    /v1/chunks/{id}   store a chunk and forward it down the chain
//	GET    /v1/chunks/{id}   read a range: CRCs of the covered sub-blocks (with crcs=all: of all), then the raw bytes
//	HEAD   /v1/chunks/{id}   stat
//	DELETE /v1/chunks/{id}   delete (tombstone)
//	POST   /v1/chunks/{id}/replicate  pull a repair copy from another node
//	POST   /v1/chunks/{id}/verify     re-read and check a replica
//	GET    /healthz /readyz /metrics
//
// With TLS, PUT, GET, HEAD and verify from users need a capability token
// (see tokened); DELETE and replicate are for metadata peers and nodes.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	n.data.routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := n.health.status(); !ok {
			http.Error(w, "disk unhealthy: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := n.ReadyStatus(); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.cfg.Registry, promhttp.HandlerOpts{}))
	return mux
}
