package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/server"
)

// runServer runs one metadata peer and one data node in this process, with
// replication 1: the way to try Cairn on one machine.
func runServer(ctx context.Context, args []string) error {
	fs := newFlags("server")
	dir := fs.String("dir", "./cairn-data", "folder for all data (created if missing)")
	bind := fs.String("bind", "127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
	advertise := fs.String("advertise", "", "host name or IP clients use to reach this server (default: the bind address, 127.0.0.1 for a wildcard)")
	grpcPort := fs.Int("grpc-port", 9090, "metadata gRPC port")
	httpPort := fs.Int("http-port", 8080, "HTTP port: REST API, health, metrics")
	raftPort := fs.Int("raft-port", 9091, "Raft port")
	dataPort := fs.Int("data-port", 7070, "data node port")
	s3Port := fs.Int("s3-port", 9000, "S3 gateway port (0 = no gateway)")
	gf := addGatewayFlags(fs)
	verbose := fs.Bool("v", false, "debug logging")
	if err := parseServer(fs, args, map[string]string{"data-port": "DATA_NODE_PORT"}); err != nil {
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
	if done, err := printConfig(fs, serverSettings{Advertise: host, GRPC: adv(*grpcPort), HTTP: addr(*httpPort), Raft: adv(*raftPort), Data: adv(*dataPort)}); done {
		return err
	}
	lis := map[string]net.Listener{}
	ports := map[string]string{"grpc": addr(*grpcPort), "http": addr(*httpPort), "raft": addr(*raftPort), "data": addr(*dataPort)}
	if *s3Port != 0 {
		ports["s3"] = addr(*s3Port)
	}
	for name, a := range ports {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return fmt.Errorf("cannot listen on %s (%s port): %w; is another cairn running? choose another port with --%s-port", a, name, err, name)
		}
		defer l.Close()
		lis[name] = l
	}
	cfg := meta.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.Logger = "meta1", filepath.Join(*dir, "meta"), log
	cfg.RaftListener, cfg.DefaultReplication = lis["raft"], 1
	cfg.RaftAdvertise, cfg.APIAddr = adv(*raftPort), adv(*grpcPort)
	// One peer has nobody to wait for: elect it at once.
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLease = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	m, err := server.StartMeta(server.MetaOptions{Meta: cfg, GRPC: lis["grpc"], HTTP: lis["http"]})
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := server.StartNode(server.NodeOptions{Listener: lis["data"], Node: node.Config{
		Dir: filepath.Join(*dir, "node"), Meta: []string{adv(*grpcPort)}, Advertise: adv(*dataPort), Logger: log}})
	if err != nil {
		return err
	}
	defer n.Close()
	s3Line := ""
	if *s3Port != 0 {
		if *gf.accessKey == "" {
			if *gf.accessKey, *gf.secretKey, err = localCredentials(*dir); err != nil {
				return err
			}
		}
		c, err := client.Dial([]string{adv(*grpcPort)}, client.Options{Logger: log})
		if err != nil {
			return err
		}
		defer c.Close()
		gw, srv := startGateway(c, lis["s3"], gf, log)
		defer srv.Close()
		if err := ensureUser(ctx, gw, *gf.accessKey, *gf.secretKey, log); err != nil {
			return err
		}
		s3Line = fmt.Sprintf("  S3 gateway    http://%s   access key %s  secret key %s\n", addr(*s3Port), *gf.accessKey, *gf.secretKey)
	}
	abs, _ := filepath.Abs(*dir)
	fmt.Fprintf(os.Stderr, `Cairn is running (single node, replication 1: every chunk has ONE copy).
  data folder   %s
  metadata API  %s   (gRPC; clients use --meta %s or CAIRN_META)
  HTTP          http://%s   (REST /v1/files/..., /healthz, /readyz, /metrics)
  data node     %s
%sTry:  cairn put somefile /  &&  cairn ls -l /
Stop with Ctrl-C.
`, abs, addr(*grpcPort), adv(*grpcPort), addr(*httpPort), addr(*dataPort), s3Line)
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

func newLogger(verbose bool) *slog.Logger {
	lvl := slog.LevelInfo
	if verbose {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}
