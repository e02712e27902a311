package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/s3"
)

// GatewayConfig configures an S3 gateway process.
type GatewayConfig struct {
	Meta     []string     // metadata peers' gRPC addresses; the gateway learns the others
	Listener net.Listener // the S3 port
	Addr     string       // where to listen for it when Listener is nil
	Region   string       // the region the gateway reports; default us-east-1
	Domain   string       // for virtual-host-style requests (bucket.Domain); empty = path style only
	// AccessKey and SecretKey, when set, are created (or kept) at Start,
	// e.g. the root credentials. Give both or neither.
	AccessKey, SecretKey string
	Logger               *slog.Logger // default: slog.Default()
	// TLS is the gateway's certificate directory for its calls into the
	// cluster (an identity with the gateway role; creating AccessKey needs
	// the admin role too). Nil dials without TLS (--insecure).
	TLS *pki.Source
	// ServeTLS, if set, serves the S3 port over HTTPS with this
	// certificate (pki.LoadPublic, or the cluster certificate of a
	// `cairn server`); nil serves plain HTTP, where SigV4 still
	// authenticates every request but nothing is encrypted.
	ServeTLS *pki.Source
	// HTTPLimits bound the S3 port; zero fields take the defaults.
	HTTPLimits HTTPLimits
}

// Gateway is an S3 gateway process: an SDK client, the S3 API
// (s3.Gateway) and /-/healthz, /-/readyz and /-/metrics beside it. Start
// returns once it serves and its credentials are stored, and Ready is
// closed then.
type Gateway struct {
	// S3 is the gateway's handler; nil until Start.
	S3 *s3.Gateway

	life   life
	mu     sync.Mutex // guards cfg, which Start completes
	cfg    GatewayConfig
	client *client.Client
	http   *http.Server
}

// NewGateway validates cfg and fills in its defaults. It starts nothing.
func NewGateway(cfg GatewayConfig) (*Gateway, error) {
	var errs []error
	if cfg.Listener == nil && cfg.Addr == "" {
		errs = append(errs, errors.New("no S3 listener or address"))
	}
	if len(cfg.Meta) == 0 {
		errs = append(errs, errors.New("no metadata addresses"))
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		errs = append(errs, errors.New("give both an access key and a secret key, or neither"))
	}
	if len(errs) > 0 {
		return nil, cairn.E("server.gateway", cairn.Invalid, errors.Join(errs...))
	}
	var err error
	if cfg.HTTPLimits, err = cfg.HTTPLimits.withDefaults("server.gateway"); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	g := &Gateway{cfg: cfg}
	g.life.init("S3 gateway")
	return g, nil
}

// Config returns the effective configuration: defaults filled in, and
// after Start the listener it serves on.
func (g *Gateway) Config() GatewayConfig {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

// Ready is closed once the gateway serves and its credentials are stored.
func (g *Gateway) Ready() <-chan struct{} { return g.life.ready }

// Start listens, serves the S3 API and stores the configured credentials,
// retrying while the metadata service elects a leader (for up to about a
// minute, or until ctx ends).
func (g *Gateway) Start(ctx context.Context) error {
	return g.life.start(ctx, g.start, g.halt(context.Background()))
}

func (g *Gateway) start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	cfg := &g.cfg
	var err error
	if g.client, err = client.Dial(cfg.Meta, client.Options{Logger: cfg.Logger, TLS: cfg.TLS}); err != nil {
		return err
	}
	l, err := listen(ctx, cfg.Listener, "s3", cfg.Addr)
	if err != nil {
		return err
	}
	cfg.Listener = l
	reg := newRegistry()
	g.S3 = s3.New(s3.Config{Store: g.client, Cluster: g.client.Admin(), Region: cfg.Region, Domain: cfg.Domain, Registry: reg, Logger: cfg.Logger})
	mux := http.NewServeMux()
	mux.Handle("/-/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", g.S3)
	g.http = newHTTPServer(mux, cfg.HTTPLimits)
	log := cfg.Logger
	served := secureListener(limitListener(l, cfg.HTTPLimits), cfg.ServeTLS)
	g.life.run(func() {
		if err := g.http.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("S3 gateway stopped", "err", err)
		}
	})
	if cfg.AccessKey != "" {
		if err := g.ensureUser(ctx); err != nil {
			return err
		}
	}
	g.life.markReady()
	return nil
}

// ensureUser creates the gateway's credentials, retrying while the
// metadata service elects a leader.
func (g *Gateway) ensureUser(ctx context.Context) error {
	ak, sk := g.cfg.AccessKey, g.cfg.SecretKey
	var err error
	for i := 0; i < 60; i++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = g.S3.EnsureUser(cctx, ak, sk)
		cancel()
		if err == nil {
			return nil
		}
		g.cfg.Logger.Debug("waiting for the metadata service to store S3 credentials", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("cannot store S3 access key %s: %w", ak, err)
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends
// (what still runs then is cut), and closes the gateway's client. It
// waits for every goroutine Start started.
func (g *Gateway) Shutdown(ctx context.Context) error {
	return g.life.end(g.halt(ctx))
}

// halt returns the function that stops what Start started.
func (g *Gateway) halt(ctx context.Context) func() error {
	return func() error {
		var err error
		if g.http != nil {
			if err = g.http.Shutdown(ctx); err != nil {
				g.http.Close()
			}
		} else if g.cfg.Listener != nil {
			g.cfg.Listener.Close()
		}
		if g.client != nil {
			g.client.Close()
		}
		return err
	}
}
