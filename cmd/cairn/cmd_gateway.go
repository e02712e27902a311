package main

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/server"
)

// gatewayFlags are the S3 gateway's settings, shared by `cairn gateway`
// and `cairn server`.
type gatewayFlags struct {
	accessKey, secretKey, region, domain, publicCerts *string
}

func addGatewayFlags(fs interface {
	String(name, value, usage string) *string
}) gatewayFlags {
	return gatewayFlags{
		accessKey:   fs.String("access-key", "", "S3 access key to create (or keep) at start, e.g. the root credentials (env CAIRN_ACCESS_KEY)"),
		secretKey:   fs.String("secret-key", "", "its secret key, 8 or more characters (env CAIRN_SECRET_KEY)"),
		region:      fs.String("region", "us-east-1", "region the gateway reports"),
		domain:      fs.String("domain", "", "domain for virtual-host-style requests (bucket.domain); empty = path style only"),
		publicCerts: fs.String("s3-certs-dir", "", "serve S3 over HTTPS with the certificate in this directory (tls.crt, tls.key from any CA, e.g. a cert-manager Secret); reloaded when the files change. Empty = plain HTTP (SigV4 still authenticates)"),
	}
}

func (a app) runGateway(ctx context.Context, args []string) error {
	fs := newFlags("gateway")
	addr := fs.String("addr", ":9000", "S3 listen address")
	metaAddrs := fs.String("meta", "127.0.0.1:9090", "metadata peers host:port[,host:port...]")
	gf := addGatewayFlags(fs)
	verbose := fs.Bool("v", false, "debug logging")
	aliases := map[string]string{"meta": "METADATA_SERVER_ADDR"}
	sf, err := a.parseServer(fs, args, aliases)
	if err != nil {
		return err
	}
	sf.insecureListen(aliases, map[string]*string{"addr": addr})
	if (*gf.accessKey == "") != (*gf.secretKey == "") {
		return usagef("give both --access-key and --secret-key, or neither")
	}
	if done, err := sf.printConfig(struct {
		Listen string   `json:"listen"`
		Meta   []string `json:"meta"`
	}{*addr, strings.Split(*metaAddrs, ",")}); done {
		return err
	}
	log := newLogger(*verbose)
	gc := gf.config(*addr, strings.Split(*metaAddrs, ","), log)
	if gc.TLS, err = sf.tls(log); err != nil {
		return err
	}
	if gc.ServeTLS, err = gf.serveTLS(log); err != nil {
		return err
	}
	ls, err := inheritedListeners(*addr)
	if err != nil {
		return err
	}
	gc.Listener = ls[0]
	g, err := server.NewGateway(gc)
	if err != nil {
		return err
	}
	return sf.serve(ctx, g, 25*time.Second, log, func() {
		log.Info("S3 gateway running", "addr", g.Config().Listener.Addr().String())
	}, "shutting down: finishing requests in flight")
}

// config is the gateway's configuration from its flags.
func (gf gatewayFlags) config(addr string, meta []string, log *slog.Logger) server.GatewayConfig {
	return server.GatewayConfig{Meta: meta, Addr: addr, Region: *gf.region, Domain: *gf.domain,
		AccessKey: *gf.accessKey, SecretKey: *gf.secretKey, Logger: log}
}

// serveTLS loads --s3-certs-dir, if given.
func (gf gatewayFlags) serveTLS(log *slog.Logger) (*pki.Source, error) {
	if *gf.publicCerts == "" {
		return nil, nil
	}
	return pki.LoadPublic(*gf.publicCerts, log)
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
	if _, err := pki.PrivateDir(dir); err != nil {
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
