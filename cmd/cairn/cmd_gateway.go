package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/s3"
)

// gatewayFlags are the S3 gateway's settings, shared by `cairn gateway`
// and `cairn server`.
type gatewayFlags struct {
	accessKey, secretKey, region, domain *string
}

func addGatewayFlags(fs interface {
	String(name, value, usage string) *string
}) gatewayFlags {
	return gatewayFlags{
		accessKey: fs.String("access-key", "", "S3 access key to create (or keep) at start, e.g. the root credentials (env CAIRN_ACCESS_KEY)"),
		secretKey: fs.String("secret-key", "", "its secret key, 8 or more characters (env CAIRN_SECRET_KEY)"),
		region:    fs.String("region", "us-east-1", "region the gateway reports"),
		domain:    fs.String("domain", "", "domain for virtual-host-style requests (bucket.domain); empty = path style only"),
	}
}

func runGateway(ctx context.Context, args []string) error {
	fs := newFlags("gateway")
	addr := fs.String("addr", ":9000", "S3 listen address")
	metaAddrs := fs.String("meta", "127.0.0.1:9090", "metadata peers host:port[,host:port...]")
	gf := addGatewayFlags(fs)
	verbose := fs.Bool("v", false, "debug logging")
	if err := parseServer(fs, args, map[string]string{"meta": "METADATA_SERVER_ADDR"}); err != nil {
		return err
	}
	if (*gf.accessKey == "") != (*gf.secretKey == "") {
		return usagef("give both --access-key and --secret-key, or neither")
	}
	if done, err := printConfig(fs, struct {
		Listen string   `json:"listen"`
		Meta   []string `json:"meta"`
	}{*addr, strings.Split(*metaAddrs, ",")}); done {
		return err
	}
	log := newLogger(*verbose)
	c, err := client.Dial(strings.Split(*metaAddrs, ","), client.Options{Logger: log})
	if err != nil {
		return err
	}
	defer c.Close()
	l, err := listenRetry(ctx, *addr)
	if err != nil {
		return err
	}
	gw, srv := startGateway(c, l, gf, log)
	if *gf.accessKey != "" {
		if err := ensureUser(ctx, gw, *gf.accessKey, *gf.secretKey, log); err != nil {
			srv.Close()
			return err
		}
	}
	log.Info("S3 gateway running", "addr", l.Addr().String())
	<-ctx.Done()
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// startGateway serves the S3 API on l, with /-/healthz, /-/readyz and
// /-/metrics beside it.
func startGateway(c *client.Client, l net.Listener, gf gatewayFlags, log *slog.Logger) (*s3.Gateway, *http.Server) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gw := s3.New(s3.Config{Store: c, Cluster: c.Admin(), Region: *gf.region, Domain: *gf.domain, Registry: reg, Logger: log})
	mux := http.NewServeMux()
	mux.Handle("/-/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/", gw)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("S3 gateway stopped", "err", err)
		}
	}()
	return gw, srv
}

// ensureUser creates the gateway's credentials, retrying while the
// metadata service elects a leader.
func ensureUser(ctx context.Context, gw *s3.Gateway, ak, sk string, log *slog.Logger) error {
	var err error
	for i := 0; i < 60; i++ {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = gw.EnsureUser(cctx, ak, sk)
		cancel()
		if err == nil {
			return nil
		}
		log.Debug("waiting for the metadata service to store S3 credentials", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return fmt.Errorf("cannot store S3 access key %s: %w", ak, err)
}

// localCredentials returns the quick start's S3 key pair: the one saved in
// dir, or a new random one saved there (mode 0600).
func localCredentials(dir string) (ak, sk string, err error) {
	file := filepath.Join(dir, "s3-credentials")
	if b, err := os.ReadFile(file); err == nil {
		if a, s, ok := strings.Cut(strings.TrimSpace(string(b)), ":"); ok && a != "" && s != "" {
			return a, s, nil
		}
	}
	ak, sk = "CAIRN"+randomString(15, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), randomString(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	return ak, sk, os.WriteFile(file, []byte(ak+":"+sk+"\n"), 0o600)
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
