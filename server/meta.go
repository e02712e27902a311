package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/httpapi"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/meta/grpcapi"
)

// MetaConfig configures a metadata peer process. Each port is served on
// the listener given, else on a listener Start opens on the address.
type MetaConfig struct {
	// Meta is the peer. Its Raft port is Meta.RaftListener, else
	// Meta.RaftBind. Meta.Registry is replaced by the registry /metrics
	// serves; Meta.APIAddr defaults to the gRPC listener's address.
	Meta meta.Config

	GRPC     net.Listener // the gRPC API
	GRPCAddr string       // where to listen for it when GRPC is nil
	HTTP     net.Listener // REST API, health, metrics
	HTTPAddr string       // where to listen for it when HTTP is nil; both empty = no HTTP port

	// Peers are the gRPC addresses of all metadata peers, for the REST
	// API's client; default this peer's own.
	Peers []string

	// API configures the REST API. Its Logger defaults to Meta.Logger;
	// Start adds this peer's own host names (advertised and listen
	// addresses, the machine's host name) to API.AllowedHosts.
	API httpapi.Options
	// Pprof serves /debug/pprof/ on the HTTP port, to admin certificates
	// only when the peer has TLS. Off by default: a profile exposes memory
	// contents and costs CPU.
	Pprof bool
	// HTTPLimits bound the HTTP port, GRPCLimits the gRPC port; zero
	// fields take the defaults.
	HTTPLimits HTTPLimits
	GRPCLimits GRPCLimits
}

// Meta is a metadata peer process: the Raft peer (meta.Server), its gRPC
// API and its HTTP port. Ready closes once the peer can serve (it leads,
// or follows a leader and has caught up; see meta.Server.ReadyStatus).
type Meta struct {
	// Server is the peer itself; nil until Start.
	Server *meta.Server

	life life
	mu   sync.Mutex // guards cfg, which Start completes (APIAddr)
	cfg  MetaConfig
	reg  *prometheus.Registry
	grpc *grpc.Server
	http *http.Server
	api  *client.Client
}

// NewMeta validates cfg and fills in its defaults. It starts nothing.
func NewMeta(cfg MetaConfig) (*Meta, error) {
	if cfg.GRPC == nil && cfg.GRPCAddr == "" {
		return nil, cairn.E("server.meta", cairn.Invalid, errors.New("no gRPC listener or address"))
	}
	if cfg.Meta.APIAddr == "" && cfg.GRPC != nil {
		cfg.Meta.APIAddr = cfg.GRPC.Addr().String()
	}
	reg := newRegistry()
	cfg.Meta.Registry = reg
	if err := cfg.Meta.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Peers) == 0 && cfg.Meta.APIAddr != "" {
		cfg.Peers = []string{cfg.Meta.APIAddr}
	}
	var err error
	if cfg.HTTPLimits, err = cfg.HTTPLimits.withDefaults("server.meta"); err != nil {
		return nil, err
	}
	if cfg.GRPCLimits, err = cfg.GRPCLimits.withDefaults("server.meta"); err != nil {
		return nil, err
	}
	m := &Meta{cfg: cfg, reg: reg}
	m.life.init("metadata peer")
	return m, nil
}

// Config returns the effective configuration: defaults filled in, and
// after Start the addresses it listened on.
func (m *Meta) Config() MetaConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// Ready is closed once the peer can serve.
func (m *Meta) Ready() <-chan struct{} { return m.life.ready }

// Start listens, opens the peer's state, starts Raft and serves the gRPC
// API and the HTTP port.
func (m *Meta) Start(ctx context.Context) error {
	return m.life.start(ctx, m.start, func() error { return m.halt(context.Background(), false) })
}

func (m *Meta) start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg := &m.cfg
	var err error
	if cfg.GRPC, err = listen(ctx, cfg.GRPC, "grpc", cfg.GRPCAddr); err != nil {
		return err
	}
	if cfg.HTTP != nil || cfg.HTTPAddr != "" {
		if cfg.HTTP, err = listen(ctx, cfg.HTTP, "http", cfg.HTTPAddr); err != nil {
			cfg.GRPC.Close()
			return err
		}
	}
	if cfg.Meta.RaftListener, err = listen(ctx, cfg.Meta.RaftListener, "raft", cfg.Meta.RaftBind); err != nil {
		m.closeListeners()
		return err
	}
	if cfg.Meta.APIAddr == "" {
		cfg.Meta.APIAddr = cfg.GRPC.Addr().String()
	}
	if len(cfg.Peers) == 0 {
		cfg.Peers = []string{cfg.Meta.APIAddr}
	}
	cfg.Meta.RaftAdvertise = actualPort(cfg.Meta.RaftAdvertise, cfg.Meta.RaftListener)
	srv, err := meta.New(cfg.Meta)
	if err == nil {
		err = srv.Start(ctx)
	}
	if err != nil {
		m.closeListeners()
		return err
	}
	m.Server = srv
	log := cfg.Meta.Logger
	gopts := grpcOptions(cfg.GRPCLimits)
	if src := cfg.Meta.TLS; src != nil {
		gopts = append(gopts, grpc.Creds(src.GRPCServer()))
		gopts = append(gopts, grpcapi.Authorization()...)
	}
	m.grpc = grpc.NewServer(gopts...)
	grpcapi.NewService(srv).Register(m.grpc)
	grpcLis := cfg.GRPC
	m.life.run(func() {
		if err := m.grpc.Serve(grpcLis); err != nil {
			log.Error("metadata gRPC server stopped", "err", err)
		}
	})
	m.life.watchReady(srv.Ready)
	if cfg.HTTP == nil {
		return nil
	}
	if m.api, err = client.Dial(cfg.Peers, client.Options{Logger: log, TLS: cfg.Meta.TLS}); err != nil {
		return err
	}
	opts := cfg.API
	if opts.Logger == nil {
		opts.Logger = log
	}
	opts.AllowedHosts = append(ownHosts(cfg), opts.AllowedHosts...)
	mux := http.NewServeMux()
	healthStatus(mux, m.reg, srv.ReadyStatus, cfg.Pprof, cfg.Meta.TLS)
	m.http = newHTTPServer(withAPI(requireIdentity(cfg.Meta.TLS, httpapi.New(m.api, opts)), mux), cfg.HTTPLimits)
	httpLis := secureListener(limitListener(cfg.HTTP, cfg.HTTPLimits), cfg.Meta.TLS)
	m.life.run(func() {
		if err := m.http.Serve(httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metadata HTTP server stopped", "err", err)
		}
	})
	return nil
}

// withAPI serves the REST API's paths with api and the rest with mux.
// The API sees its paths as they came: ServeMux would redirect a path
// with ".." segments to its cleaned form (losing a PUT's body), where the
// API answers 400.
func withAPI(api, mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			api.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// ownHosts returns the names this peer is reached by: the hosts of its
// advertised and listen addresses and the machine's host name.
func ownHosts(cfg *MetaConfig) []string {
	addrs := []string{cfg.Meta.APIAddr, cfg.Meta.RaftAdvertise, cfg.HTTPAddr}
	if cfg.HTTP != nil {
		addrs = append(addrs, cfg.HTTP.Addr().String())
	}
	var hosts []string
	for _, a := range addrs {
		if h, _, err := net.SplitHostPort(a); err == nil && h != "" {
			hosts = append(hosts, h)
		}
	}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	return hosts
}

// closeListeners closes the listeners Start holds before anything serves
// on them.
func (m *Meta) closeListeners() {
	for _, l := range []net.Listener{m.cfg.GRPC, m.cfg.HTTP, m.cfg.Meta.RaftListener} {
		if l != nil {
			l.Close()
		}
	}
}

// Close stops serving and closes the peer without handing over leadership
// (as a crash would, but cleanly). In-flight RPCs get a few seconds to
// finish. Like Shutdown it is idempotent, and the first of the two to run
// decides how the peer stops.
func (m *Meta) Close() error {
	return m.life.end(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return m.halt(ctx, false)
	})
}

// Shutdown stops the peer for a planned stop (SIGTERM): readiness fails at
// once, a leader hands leadership to another peer (bounded by a few
// election timeouts; if that fails the others elect one after their
// timeout), then gRPC and HTTP stop accepting and finish in-flight
// requests until ctx ends (what is still running then is cut), and Raft
// and the state close. It waits for every goroutine Start started.
func (m *Meta) Shutdown(ctx context.Context) error {
	return m.life.end(func() error { return m.halt(ctx, true) })
}

// halt stops what Start started, gracefully (handing over leadership)
// when asked to.
func (m *Meta) halt(ctx context.Context, graceful bool) error {
	if m.Server == nil { // Start failed before the peer ran
		m.closeListeners()
		return nil
	}
	if graceful {
		m.Server.BeginShutdown()
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.Server.TransferLeadership(tctx); err != nil {
			m.cfg.Meta.Logger.Warn("stopping without handing over leadership; the other peers elect a leader after their election timeout", "err", err)
		}
		cancel()
	}
	// HTTP first: REST requests in flight may still need gRPC.
	stopHTTP(ctx, m.http)
	if m.http == nil && m.cfg.HTTP != nil {
		m.cfg.HTTP.Close() // Start failed before serving it
	}
	stopped := make(chan struct{})
	go func() { m.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		m.grpc.Stop()
		<-stopped
	}
	if m.api != nil {
		m.api.Close()
	}
	return m.Server.Close()
}
