package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/node"
)

// NodeConfig configures a data node process.
type NodeConfig struct {
	// Node is the data node. Node.Advertise defaults to the listener's
	// address; an advertised port 0 becomes the port Start listened on.
	Node     node.Config
	Listener net.Listener // the data port
	Addr     string       // where to listen for it when Listener is nil
	// HTTPLimits bound the data port; zero fields take the defaults.
	HTTPLimits HTTPLimits
}

// Node is a data node process: the node and its data port. Ready closes
// once the node is registered with the metadata leader and its
// heartbeats are accepted (see node.Node.ReadyStatus).
type Node struct {
	// Node is the data node itself; nil until Start.
	Node *node.Node

	life life
	mu   sync.Mutex // guards cfg, which Start completes
	cfg  NodeConfig
	http *http.Server
}

// NewNode validates cfg and fills in its defaults. It starts nothing.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.Listener == nil && cfg.Addr == "" {
		return nil, cairn.E("server.node", cairn.Invalid, errors.New("no data port listener or address"))
	}
	if cfg.Node.Advertise == "" && cfg.Listener != nil {
		cfg.Node.Advertise = cfg.Listener.Addr().String()
	}
	if err := cfg.Node.Validate(); err != nil {
		return nil, err
	}
	var err error
	if cfg.HTTPLimits, err = cfg.HTTPLimits.withDefaults("server.node"); err != nil {
		return nil, err
	}
	s := &Node{cfg: cfg}
	s.life.init("data node")
	return s, nil
}

// Config returns the effective configuration: defaults filled in, and
// after Start the address it listened on.
func (s *Node) Config() NodeConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Ready is closed once the node can serve.
func (s *Node) Ready() <-chan struct{} { return s.life.ready }

// Start listens, opens the node's store, starts registration and
// heartbeats, and serves the data port.
func (s *Node) Start(ctx context.Context) error {
	return s.life.start(ctx, s.start, func() error { return nil })
}

func (s *Node) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := listen(ctx, s.cfg.Listener, "data", s.cfg.Addr)
	if err != nil {
		return err
	}
	s.cfg.Listener = l
	s.cfg.Node.Advertise = actualPort(s.cfg.Node.Advertise, l)
	n, err := node.New(s.cfg.Node)
	if err == nil {
		err = n.Start(ctx)
	}
	if err != nil {
		l.Close()
		return err
	}
	s.Node = n
	s.http = newHTTPServer(n.Handler(), s.cfg.HTTPLimits)
	log := s.cfg.Node.Logger
	served := secureListener(limitListener(l, s.cfg.HTTPLimits), s.cfg.Node.TLS)
	s.life.run(func() {
		if err := s.http.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("data port stopped", "err", err)
		}
	})
	s.life.watchReady(n.Ready)
	return nil
}

// Kill drops the data port at once, cutting in-flight transfers as a crash
// would, then closes the store (what was fsynced stays; nothing else is
// acknowledged). It is one of the ways to stop (see Close).
func (s *Node) Kill() error {
	return s.life.end(func() error {
		s.http.Close()
		return s.Node.Close()
	})
}

// Shutdown stops the node for a planned stop (SIGTERM): readiness fails
// and the metadata leader is told the node is leaving (bounded by the node's
// MetaTimeout; if the leader cannot be reached the node stops anyway and is
// seen as suspect), then the data port stops accepting and in-flight
// requests finish until ctx ends (what still runs then is cut), and the
// store closes. Clients whose requests are refused retry on other
// replicas. It waits for every goroutine Start started.
func (s *Node) Shutdown(ctx context.Context) error {
	return s.life.end(func() error {
		lctx, cancel := context.WithTimeout(ctx, s.cfg.Node.MetaTimeout)
		if err := s.Node.Leave(lctx); err != nil {
			s.cfg.Node.Logger.Warn("stopping without telling the metadata leader", "err", err)
		}
		cancel()
		stopHTTP(ctx, s.http)
		return s.Node.Close()
	})
}

// Close stops accepting, lets in-flight requests finish (bounded), and
// closes the store, without telling the metadata leader. Close, Kill and
// Shutdown are idempotent together: the first to run decides how the
// node stops.
func (s *Node) Close() error {
	return s.life.end(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopHTTP(ctx, s.http)
		return s.Node.Close()
	})
}
