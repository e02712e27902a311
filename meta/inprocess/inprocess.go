package inprocess

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/grpcapi"
	"github.com/cairnfs/cairn/meta/heal"
	"github.com/cairnfs/cairn/meta/keyring"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/state"
	"github.com/cairnfs/cairn/pki"
)

// maxMessageSize bounds one gRPC message in either direction, as on a
// metadata peer (metarpc.MaxMessageSize; a test keeps them equal).
const maxMessageSize = 64 << 20

// Config configures the in-process metadata service. Zero values take
// the defaults of a metadata peer (meta.DefaultConfig).
type Config struct {
	ID       string       // the peer ID it answers as; default "inprocess"
	Dir      string       // holds the Pebble state (Dir/state); required
	Listener net.Listener // the gRPC API is served here; required; Close closes it
	APIAddr  string       // its gRPC address as clients reach it; default the listener's

	DefaultReplication int           // replicas for new chunks when the client names none; default 3
	NodeSuspectAfter   time.Duration // a data node with no heartbeat this long is suspect; default 10s
	NodeDeadAfter      time.Duration // ... and dead after this long; default 45s
	MaxWriteAge        time.Duration // chunks allocated longer ago are refused; default 1h

	// Heal, if set, runs the healer's rounds (repair, rebalancing,
	// garbage collection, upload expiry) with these settings; its
	// DefaultReplication, MaxWriteAge, Logger and Now are this Config's.
	// Nil runs no rounds: released chunks stay on the data nodes, and
	// nothing repairs or expires. Fsck, reconciliation and corrupt
	// reports are answered either way.
	Heal *heal.Config

	Now    func() time.Time // the clock of failure detection and healing; default time.Now
	Logger *slog.Logger     // default slog.Default()
	// TLS, if set, serves the API with mutual TLS and the same
	// authorization as a metadata peer, secures the healer's calls to
	// data nodes, and mints capability tokens for them; nil serves
	// without TLS.
	TLS *pki.Source
	// With TLS: the signing key is replaced every KeyRotation and tokens
	// are valid for TokenLifetime (defaults of meta/keyring).
	KeyRotation   time.Duration
	TokenLifetime time.Duration
}

// validate checks cfg and fills in its defaults.
func (c *Config) validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("inprocess: Dir is empty"))
	}
	if c.Listener == nil {
		errs = append(errs, errors.New("inprocess: Listener is nil"))
	} else if c.APIAddr == "" {
		c.APIAddr = c.Listener.Addr().String()
	}
	if c.ID == "" {
		c.ID = "inprocess"
	}
	if c.DefaultReplication == 0 {
		c.DefaultReplication = 3
	}
	if c.DefaultReplication < 1 {
		errs = append(errs, fmt.Errorf("inprocess: replication %d must be at least 1", c.DefaultReplication))
	}
	if c.NodeSuspectAfter <= 0 {
		c.NodeSuspectAfter = 10 * time.Second
	}
	if c.NodeDeadAfter <= 0 {
		c.NodeDeadAfter = 45 * time.Second
	}
	if c.NodeDeadAfter <= c.NodeSuspectAfter {
		errs = append(errs, fmt.Errorf("inprocess: node dead timeout %v must exceed suspect timeout %v", c.NodeDeadAfter, c.NodeSuspectAfter))
	}
	if c.MaxWriteAge <= 0 {
		c.MaxWriteAge = time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if len(errs) > 0 {
		return cairn.E("inprocess.config", cairn.Invalid, errors.Join(errs...))
	}
	return nil
}

// Server is the in-process metadata service. Its lifecycle is a metadata
// peer's: New validates, Start opens and serves, Close stops.
type Server struct {
	cfg      Config
	log      *applier
	st       *state.Machine
	reg      *registry.Registry
	heal     *heal.Healer
	transfer heal.HTTPTransfer
	keys     *keyring.Keyring // nil without TLS
	grpc     *grpc.Server

	lifeMu   sync.Mutex
	started  bool
	closed   bool
	closeErr error
	serving  atomic.Bool // started and not yet closing: this peer leads
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New validates cfg and fills in its defaults (Config returns the
// result). It starts nothing and opens nothing.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg}, nil
}

// Config returns the configuration, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Addr is the address of its gRPC API.
func (s *Server) Addr() string { return s.cfg.APIAddr }

// Start opens the state (creating Dir), serves the gRPC API on the
// listener and, with Config.Heal, starts the healer's rounds. It fails
// when the server was started or closed before; a failed Start closes
// the listener and leaves the server closed.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch {
	case s.closed:
		return cairn.E("inprocess.start", cairn.Invalid, errors.New("the in-process metadata service was closed; make a new one with New"))
	case s.started:
		return cairn.E("inprocess.start", cairn.Invalid, errors.New("the in-process metadata service is already started"))
	}
	if err := s.open(ctx); err != nil {
		s.cfg.Listener.Close()
		s.closed, s.closeErr = true, err
		return err
	}
	s.started = true
	s.serving.Store(true)
	hctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	lis := s.cfg.Listener
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.cfg.Logger.Error("in-process metadata gRPC server stopped", "err", err)
		}
	}()
	if s.keys != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.keys.Run(hctx)
		}()
	}
	if s.cfg.Heal != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.heal.Run(hctx)
		}()
	}
	return nil
}

// open opens the state machine and builds the parts that use it.
func (s *Server) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return cairn.E("inprocess.start", err)
	}
	cfg := s.cfg
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return cairn.E("inprocess.start", cairn.Internal, err)
	}
	st, err := state.Open(filepath.Join(cfg.Dir, "state"), cfg.Logger)
	if err != nil {
		return err
	}
	s.st = st
	s.reg = registry.New(registry.Config{SuspectAfter: cfg.NodeSuspectAfter, DeadAfter: cfg.NodeDeadAfter, Now: cfg.Now, Logger: cfg.Logger})
	s.log = &applier{st: st, reg: s.reg, serving: &s.serving}
	if err := s.log.loadRegistry(); err != nil {
		st.Close()
		return err
	}
	hc := heal.Config{}
	if cfg.Heal != nil {
		hc = *cfg.Heal
	}
	hc.DefaultReplication, hc.MaxWriteAge, hc.Logger, hc.Now = cfg.DefaultReplication, cfg.MaxWriteAge, cfg.Logger, cfg.Now
	s.transfer = heal.HTTPTransfer{Scheme: pki.Scheme(cfg.TLS),
		Client: &http.Client{Timeout: 5 * time.Minute, Transport: cfg.TLS.Transport(http.DefaultTransport.(*http.Transport).Clone())}}
	s.heal = heal.New(hc, heal.Deps{Proposer: s.log, Leader: s.log, Nodes: s.reg, State: st, Transfer: s.transfer})
	if cfg.TLS != nil {
		s.keys = keyring.New(keyring.Config{RotateEvery: cfg.KeyRotation, TokenLifetime: cfg.TokenLifetime, PublishDelay: cfg.NodeSuspectAfter, Logger: cfg.Logger},
			keyring.Deps{Proposer: s.log, Leader: s.log, State: st})
		if err := s.keys.Ensure(ctx); err != nil {
			st.Close()
			return err
		}
	}
	gopts := []grpc.ServerOption{grpc.MaxRecvMsgSize(maxMessageSize), grpc.MaxSendMsgSize(maxMessageSize)}
	if cfg.TLS != nil {
		gopts = append(append(gopts, grpc.Creds(cfg.TLS.GRPCServer())), grpcapi.Authorization()...)
	}
	s.grpc = grpc.NewServer(gopts...)
	grpcapi.New(grpcapi.Backend{
		Config:   grpcapi.Config{DefaultReplication: cfg.DefaultReplication, MaxWriteAge: cfg.MaxWriteAge, NodeDeadAfter: cfg.NodeDeadAfter, Logger: cfg.Logger},
		Proposer: s.log, Members: members{s}, State: st, Registry: s.reg, Healer: s.heal, Keyring: s.keys,
	}).Register(s.grpc)
	return nil
}

// Close stops serving (RPCs in flight get up to 5 s to finish), stops the
// healer's rounds and closes the state. It waits for every goroutine
// Start started. It is idempotent: later calls return the first call's
// result. Closing a server that was never started closes its listener.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	if !s.started {
		s.cfg.Listener.Close()
		return nil
	}
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		s.grpc.Stop()
		<-stopped
	}
	s.cancel()
	s.wg.Wait()
	s.serving.Store(false)
	s.closeErr = s.log.close()
	s.transfer.Client.CloseIdleConnections() // repair connections and their goroutines
	return s.closeErr
}

// Keyring keeps the token signing keys and mints tokens; nil without TLS.
func (s *Server) Keyring() *keyring.Keyring { return s.keys }

// TransferLeadership fails with Invalid: there is no other peer to lead.
func (s *Server) TransferLeadership(context.Context) error {
	return needsRaft("transfer-leadership")
}

// needsRaft is the error of an operation only a Raft cluster can do.
func needsRaft(op string) error {
	return cairn.E(op, cairn.Invalid, errors.New("the in-process metadata service is a single peer without Raft; membership and leadership changes need a Raft cluster of metadata peers (cairn meta)"))
}
