package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/server"
)

func runMeta(ctx context.Context, args []string) error {
	fs := newFlags("meta")
	def := meta.DefaultConfig()
	id := fs.String("id", "", "this peer's ID, stable across restarts (e.g. m1)")
	dir := fs.String("dir", "./cairn-meta", "data folder")
	grpcAddr := fs.String("grpc-addr", ":9090", "gRPC listen address")
	httpAddr := fs.String("http-addr", ":8080", "HTTP listen address (REST, health, metrics)")
	raftAddr := fs.String("raft-addr", ":9091", "Raft listen address")
	advertise := fs.String("advertise", "", "host name or IP other peers and clients use to reach this peer (default: the listen host)")
	peers := fs.String("peers", "", "initial cluster: id=host:raftport,... including this peer (empty = single peer)")
	apiPeers := fs.String("api-peers", "", "gRPC addresses of all peers (for the REST API's client; default this peer)")
	repl := fs.Int("replication", def.DefaultReplication, "default replicas per chunk")
	suspect := fs.Duration("node-suspect-after", def.NodeSuspectAfter, "a data node without heartbeats this long is suspect")
	dead := fs.Duration("node-dead-after", def.NodeDeadAfter, "... and dead after this long")
	election := fs.Duration("election-timeout", def.ElectionTimeout, "Raft election timeout")
	repairEvery := fs.Duration("repair-interval", def.RepairInterval, "time between repair and rebalance scans")
	repairConc := fs.Int("repair-concurrency", def.RepairConcurrency, "chunk copies in flight cluster-wide")
	repairBW := sizeFlag(def.RepairBytesPerSec)
	fs.Var(&repairBW, "repair-bandwidth", "cluster-wide repair and rebalance bandwidth per second, e.g. 200M (0 = unlimited)")
	gcEvery := fs.Duration("gc-interval", def.GCInterval, "time between garbage collection rounds")
	gcGrace := fs.Duration("gc-grace", def.GCGrace, "how long a released chunk is kept before it is deleted")
	uploadExpiry := fs.Duration("upload-expiry", def.UploadExpiry, "abort upload sessions left open this long and collect their chunks")
	maxWriteAge := fs.Duration("max-write-age", def.MaxWriteAge, "longest time from chunk allocation to commit; older unreferenced chunks are orphans")
	verbose := fs.Bool("v", false, "debug logging")
	if err := parseServer(fs, args, nil); err != nil {
		return err
	}
	if *id == "" {
		return usagef("meta needs --id (or CAIRN_ID)")
	}
	log := newLogger(*verbose)
	cfg := def
	cfg.ID, cfg.Dir, cfg.Logger, cfg.DefaultReplication = *id, *dir, log, *repl
	cfg.NodeSuspectAfter, cfg.NodeDeadAfter = *suspect, *dead
	cfg.ElectionTimeout, cfg.HeartbeatTimeout = *election, *election
	cfg.LeaderLease = *election / 2
	cfg.RepairInterval, cfg.RepairConcurrency, cfg.RepairBytesPerSec = *repairEvery, *repairConc, int64(repairBW)
	cfg.GCInterval, cfg.GCGrace, cfg.MaxWriteAge, cfg.UploadExpiry = *gcEvery, *gcGrace, *maxWriteAge, *uploadExpiry
	ps, err := meta.ParsePeers(*peers)
	if err != nil {
		return err
	}
	cfg.Peers = ps
	adv := func(listen string) string {
		host, port, _ := net.SplitHostPort(listen)
		if *advertise != "" {
			host = *advertise
		} else if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port)
	}
	cfg.RaftAdvertise, cfg.APIAddr = adv(*raftAddr), adv(*grpcAddr)
	for _, p := range ps {
		if p.ID == cfg.ID {
			cfg.RaftAdvertise = p.RaftAddr
		}
	}
	rl, err := listenRetry(ctx, *raftAddr)
	if err != nil {
		return err
	}
	cfg.RaftListener = rl
	gl, err := listenRetry(ctx, *grpcAddr)
	if err != nil {
		return err
	}
	hl, err := listenRetry(ctx, *httpAddr)
	if err != nil {
		return err
	}
	var api []string
	if *apiPeers != "" {
		api = strings.Split(*apiPeers, ",")
	}
	m, err := server.StartMeta(server.MetaOptions{Meta: cfg, GRPC: gl, HTTP: hl, Peers: api})
	if err != nil {
		return err
	}
	log.Info("metadata peer running", "id", cfg.ID, "grpc", gl.Addr().String(), "http", hl.Addr().String(), "raft", rl.Addr().String())
	<-ctx.Done()
	log.Info("shutting down")
	return m.Close()
}

// listenRetry listens, retrying briefly (a restarted process may find its
// port still held for a moment).
func listenRetry(ctx context.Context, addr string) (net.Listener, error) {
	var err error
	for i := 0; i < 50; i++ {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, err)
}
