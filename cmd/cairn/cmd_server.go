package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/server"
)

// runServer runs one metadata peer, one data node and an S3 gateway in
// this process, with replication 1: the way to try Cairn on one machine.
func (a app) runServer(ctx context.Context, args []string) error {
	fs := newFlags("server")
	dir := fs.String("dir", "./cairn-data", "folder for all data (created if missing)")
	bind := fs.String("bind", "127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
	advertise := fs.String("advertise", "", "host name or IP clients use to reach this server (default: the bind address, 127.0.0.1 for a wildcard)")
	grpcPort := fs.Int("grpc-port", 9090, "metadata gRPC port")
	httpPort := fs.Int("http-port", 8080, "HTTP port: REST API, health, metrics")
	raftPort := fs.Int("raft-port", 9091, "Raft port")
	dataPort := fs.Int("data-port", 7070, "data node port")
	s3Port := fs.Int("s3-port", 9000, "S3 gateway port (0 = no gateway)")
	s3TLS := fs.Bool("s3-tls", false, "serve S3 over HTTPS with the server's own certificate (clients trust DIR/certs/ca/ca.crt, e.g. aws --ca-bundle)")
	gf := addGatewayFlags(fs)
	af := addAPIFlags(fs)
	encKey := fs.String(encryptionKeyFlag, "", encryptionKeyUsage)
	oldKey := fs.String("secrets-old-key-file", "", "while rotating DIR/certs/secrets.key: the previous key, which still opens what it sealed until `cairn admin reseal-secrets`")
	verbose := fs.Bool("v", false, "debug logging")
	sf, err := a.parseServer(fs, args, map[string]string{"data-port": "DATA_NODE_PORT"})
	if err != nil {
		return err
	}
	log := newLogger(*verbose)
	addr := func(port int) string { return net.JoinHostPort(*bind, strconv.Itoa(port)) }
	host := *advertise
	if host == "" {
		host = *bind
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
	}
	adv := func(port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	if done, err := sf.printConfig(serverSettings{Advertise: host, GRPC: adv(*grpcPort), HTTP: addr(*httpPort), Raft: adv(*raftPort), Data: adv(*dataPort)}); done {
		return err
	}
	var src *pki.Source
	certLine := "  security      INSECURE (--insecure): no TLS, no authentication\n"
	if !sf.insecure() {
		if sf.given(certsDirFlag, nil) {
			return usagef("cairn server makes and keeps its own certificates in %s; --certs-dir is for the other roles", filepath.Join(*dir, "certs"))
		}
		hosts := []string{host, "localhost", "127.0.0.1", "::1"}
		if b := *bind; b != "" && b != "0.0.0.0" && b != "::" && b != host {
			hosts = append(hosts, b)
		}
		var adminDir string
		var created bool
		if src, adminDir, created, err = serverCerts(*dir, hosts, log); err != nil {
			return err
		}
		abs, _ := filepath.Abs(adminDir)
		made := ""
		if created {
			made = " (created now)"
		}
		certLine = fmt.Sprintf("  security      mutual TLS on gRPC, HTTP and data ports; admin certificate%s in\n                %s  (the CLI finds it from this folder; elsewhere: export CAIRN_CERTS_DIR=%s)\n", made, abs, abs)
	} else if _, err := sf.tls(log); err != nil {
		return err
	}
	vo, err := volumeOptions(*encKey, log)
	if err != nil {
		return err
	}
	mc := meta.DefaultConfig()
	mc.TLS = src
	if src != nil {
		if mc.Secrets, err = serverSecretsKey(*dir, *oldKey); err != nil {
			return err
		}
		if *oldKey != "" {
			log.Warn(rotationNote, "key", mc.Secrets.ID())
		}
	}
	mc.ID, mc.Dir, mc.Logger = "meta1", filepath.Join(*dir, "meta"), log
	mc.RaftBind, mc.DefaultReplication = addr(*raftPort), 1
	mc.RaftAdvertise, mc.APIAddr = adv(*raftPort), adv(*grpcPort)
	// One peer has nobody to wait for: elect it at once.
	mc.HeartbeatTimeout, mc.ElectionTimeout, mc.LeaderLease = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	cfg := server.Config{
		Meta: server.MetaConfig{Meta: mc, GRPCAddr: addr(*grpcPort), HTTPAddr: addr(*httpPort)},
		Node: server.NodeConfig{Addr: addr(*dataPort), Node: node.Config{
			Dir: filepath.Join(*dir, "node"), Meta: []string{adv(*grpcPort)}, Advertise: adv(*dataPort), Logger: log, TLS: src, Volume: vo}},
	}
	af.apply(&cfg.Meta)
	s3Line := ""
	if *s3Port != 0 {
		if *gf.accessKey == "" {
			if *gf.accessKey, *gf.secretKey, err = localCredentials(*dir); err != nil {
				return err
			}
		}
		g := gf.config(addr(*s3Port), []string{adv(*grpcPort)}, log)
		g.TLS = src
		if g.ServeTLS, err = gf.serveTLS(log); err != nil {
			return err
		}
		if *s3TLS {
			if src == nil || g.ServeTLS != nil {
				return usagef("--s3-tls serves S3 with the server's own certificate: not with --insecure, and not with --s3-certs-dir")
			}
			g.ServeTLS = src
		}
		cfg.Gateway = &g
		s3Line = fmt.Sprintf("  S3 gateway    %s://%s   access key %s  secret key %s\n", pki.Scheme(g.ServeTLS), addr(*s3Port), *gf.accessKey, *gf.secretKey)
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	started := func() {
		abs, _ := filepath.Abs(*dir)
		fmt.Fprintf(os.Stderr, `Cairn is running (single node, replication 1: every chunk has ONE copy).
  data folder   %s
  metadata API  %s   (gRPC; clients use --meta %s or CAIRN_META)
  HTTP          %s://%s   (REST /v1/files/..., /healthz, /readyz, /metrics)
  data node     %s
%s%sTry:  cairn put somefile /  &&  cairn ls -l /
Stop with Ctrl-C.
`, abs, addr(*grpcPort), adv(*grpcPort), pki.Scheme(src), addr(*httpPort), addr(*dataPort), s3Line, certLine)
	}
	err = sf.serve(ctx, srv, 25*time.Second, log, started, "shutting down")
	if le := (*server.ListenError)(nil); errors.As(err, &le) {
		return fmt.Errorf("%w; is another cairn running? choose another port with --%s-port", err, le.Port)
	}
	return err
}

func newLogger(verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// serverSecretsKey is `cairn server`'s cluster key for sealing stored
// secrets: DIR/certs/secrets.key, created on first start; with the key it
// replaces in oldPath ("": none) while the key rotates.
func serverSecretsKey(dir, oldPath string) (*secrets.Sealer, error) {
	path := filepath.Join(dir, "certs", "secrets.key")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := secrets.NewKeyFile(path); err != nil {
			return nil, err
		}
	}
	return loadSecretsKey(path, oldPath)
}

// rotationNote is logged by a peer started with --secrets-old-key-file.
const rotationNote = "secrets key rotation in progress: secrets sealed with the old key (--secrets-old-key-file) still open; once every peer runs with both keys, run `cairn admin reseal-secrets`, then restart every peer without --secrets-old-key-file"

// loadSecretsKey loads the secrets key in path and, when oldPath is not
// "", the key it replaces, which then still opens what it sealed.
func loadSecretsKey(path, oldPath string) (*secrets.Sealer, error) {
	s, err := secrets.Load(path)
	if err != nil || oldPath == "" {
		return s, err
	}
	old, err := secrets.Load(oldPath)
	if err != nil {
		return nil, fmt.Errorf("--secrets-old-key-file: %w", err)
	}
	if old.ID() == s.ID() {
		return nil, usagef("--secrets-old-key-file %s holds the same key as %s (key %s): give the previous key", oldPath, path, s.ID())
	}
	return s.WithOld(old), nil
}
