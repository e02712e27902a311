package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/server"
)

// metaAliases returns the Kubernetes-style environment variables `cairn
// meta` reads besides CAIRN_<FLAG>.
func metaAliases() map[string]string {
	return map[string]string{"id": "POD_NAME", "grpc-port": "METADATA_SERVER_PORT", "cluster-size": "CLUSTER_SIZE"}
}

// metaFlags are `cairn meta`'s flags.
type metaFlags struct {
	id, dir, grpcAddr, httpAddr, raftAddr, advertise, peers, apiPeers, peerDomain *string
	secretsKey, secretsOldKey                                                     *string
	grpcPort, clusterSize, repl, repairConc                                       *int
	join, verbose                                                                 *bool
	suspect, dead, election, repairEvery, gcEvery, gcGrace                        *time.Duration
	uploadExpiry, maxWriteAge, shutdown, keyRotation, tokenLifetime               *time.Duration
	repairBW                                                                      *sizeFlag
	api                                                                           apiFlags
}

func addMetaFlags(fs *flag.FlagSet) *metaFlags {
	def := meta.DefaultConfig()
	f := &metaFlags{}
	f.id = fs.String("id", "", "this peer's ID, stable across restarts (default $POD_NAME, then the host name, e.g. cairn-meta-2)")
	f.dir = fs.String("dir", "./cairn-meta", "data folder")
	f.grpcAddr = fs.String("grpc-addr", ":9090", "gRPC listen address")
	f.grpcPort = fs.Int("grpc-port", 0, "gRPC port, overriding the port of --grpc-addr ($METADATA_SERVER_PORT)")
	f.httpAddr = fs.String("http-addr", ":8080", "HTTP listen address (REST, health, metrics)")
	f.raftAddr = fs.String("raft-addr", ":9091", "Raft listen address")
	f.advertise = fs.String("advertise", "", "host name or IP other peers and clients use to reach this peer (default <id>.<peer-domain>, else the listen host)")
	f.peers = fs.String("peers", "", "initial cluster: id=host:raftport,... including this peer (empty = single peer, or see --cluster-size)")
	f.clusterSize = fs.Int("cluster-size", 0, "initial cluster of N StatefulSet peers <base>-0..N-1 (this peer's ID is <base>-<ordinal>); only for the first start, scale with add-peer ($CLUSTER_SIZE)")
	f.peerDomain = fs.String("peer-domain", "", "DNS domain of the peers: peer i is <base>-<i>.<domain>, e.g. cairn-meta.default.svc.cluster.local")
	f.join = fs.Bool("join", false, "start empty and wait to be added with `cairn meta add-peer` instead of bootstrapping")
	f.apiPeers = fs.String("api-peers", "", "gRPC addresses of all peers (for the REST API's client; default the initial peers' or this peer's)")
	f.repl = fs.Int("replication", def.DefaultReplication, "default replicas per chunk")
	f.suspect = fs.Duration("node-suspect-after", def.NodeSuspectAfter, "a data node without heartbeats this long is suspect")
	f.dead = fs.Duration("node-dead-after", def.NodeDeadAfter, "... and dead after this long (also how long a node may stay away for a restart before its chunks are repaired)")
	f.election = fs.Duration("election-timeout", def.ElectionTimeout, "Raft election timeout")
	f.repairEvery = fs.Duration("repair-interval", def.RepairInterval, "time between repair and rebalance scans")
	f.repairConc = fs.Int("repair-concurrency", def.RepairConcurrency, "chunk copies in flight cluster-wide")
	bw := sizeFlag(def.RepairBytesPerSec)
	f.repairBW = &bw
	fs.Var(f.repairBW, "repair-bandwidth", "cluster-wide repair and rebalance bandwidth per second, e.g. 200M (0 = unlimited)")
	f.gcEvery = fs.Duration("gc-interval", def.GCInterval, "time between garbage collection rounds")
	f.gcGrace = fs.Duration("gc-grace", def.GCGrace, "how long a released chunk is kept before it is deleted")
	f.uploadExpiry = fs.Duration("upload-expiry", def.UploadExpiry, "abort upload sessions left open this long and collect their chunks")
	f.maxWriteAge = fs.Duration("max-write-age", def.MaxWriteAge, "longest time from chunk allocation to commit; older unreferenced chunks are orphans")
	f.keyRotation = fs.Duration("token-key-rotation", def.KeyRotation, "how often the leader replaces the key it signs data-node capability tokens with")
	f.tokenLifetime = fs.Duration("token-lifetime", def.TokenLifetime, "how long a capability token for data nodes is valid (clients fetch a new one when it expires)")
	f.shutdown = fs.Duration("shutdown-timeout", 25*time.Second, "on SIGTERM, how long in-flight requests may take to finish")
	f.secretsKey = fs.String("secrets-key-file", "", "file with the cluster key (64 hex digits; cairn cert create-key) that seals stored S3 secrets; the same on every peer")
	f.secretsOldKey = fs.String("secrets-old-key-file", "", "while rotating the secrets key: the previous key, which still opens what it sealed until `cairn admin reseal-secrets` reseals it with --secrets-key-file")
	f.verbose = fs.Bool("v", false, "debug logging")
	f.api = addAPIFlags(fs)
	return f
}

func (f *metaFlags) inputs(hostname string) metaInputs {
	return metaInputs{ID: *f.id, Hostname: hostname, GRPCAddr: *f.grpcAddr, HTTPAddr: *f.httpAddr, RaftAddr: *f.raftAddr,
		GRPCPort: *f.grpcPort, ClusterSize: *f.clusterSize, PeerDomain: *f.peerDomain, Advertise: *f.advertise,
		Peers: *f.peers, APIPeers: *f.apiPeers, Join: *f.join}
}

// config builds the peer's configuration from its flags and settings.
func (f *metaFlags) config(s metaSettings) meta.Config {
	cfg := meta.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.Logger, cfg.DefaultReplication = s.ID, *f.dir, newLogger(*f.verbose), *f.repl
	cfg.NodeSuspectAfter, cfg.NodeDeadAfter = *f.suspect, *f.dead
	cfg.ElectionTimeout, cfg.HeartbeatTimeout = *f.election, *f.election
	cfg.LeaderLease = *f.election / 2
	cfg.RepairInterval, cfg.RepairConcurrency, cfg.RepairBytesPerSec = *f.repairEvery, *f.repairConc, int64(*f.repairBW)
	cfg.GCInterval, cfg.GCGrace, cfg.MaxWriteAge, cfg.UploadExpiry = *f.gcEvery, *f.gcGrace, *f.maxWriteAge, *f.uploadExpiry
	cfg.KeyRotation, cfg.TokenLifetime = *f.keyRotation, *f.tokenLifetime
	cfg.RaftAdvertise, cfg.APIAddr, cfg.Join = s.RaftAdvertise, s.APIAddr, s.Join
	for _, p := range s.InitialPeers {
		cfg.Peers = append(cfg.Peers, meta.Peer{ID: p.ID, RaftAddr: p.RaftAddr})
	}
	return cfg
}

// runMeta is `cairn meta`: one metadata peer until SIGTERM, then a
// graceful stop. `cairn meta add-peer|remove-peer` change the membership.
func (a app) runMeta(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add-peer":
			return runAddPeer(ctx, args[1:])
		case "remove-peer":
			return runRemovePeer(ctx, args[1:])
		}
	}
	fs := newFlags("meta")
	f := addMetaFlags(fs)
	sf, err := a.parseServer(fs, args, metaAliases())
	if err != nil {
		return err
	}
	sf.insecureListen(metaAliases(), map[string]*string{"grpc-addr": f.grpcAddr, "http-addr": f.httpAddr, "raft-addr": f.raftAddr})
	hostname, _ := os.Hostname()
	set, err := deriveMeta(f.inputs(hostname))
	if err != nil {
		return err
	}
	if done, err := sf.printConfig(set); done {
		return err
	}
	cfg := f.config(set)
	if cfg.TLS, err = sf.tls(cfg.Logger); err != nil {
		return err
	}
	if *f.secretsKey != "" {
		if cfg.Secrets, err = loadSecretsKey(*f.secretsKey, *f.secretsOldKey); err != nil {
			return err
		}
		if *f.secretsOldKey != "" {
			cfg.Logger.Warn(rotationNote, "key", cfg.Secrets.ID())
		}
	} else if *f.secretsOldKey != "" {
		return usagef("--secrets-old-key-file needs --secrets-key-file: the new key that secrets are resealed with")
	} else if cfg.TLS != nil {
		cfg.Logger.Warn("no --secrets-key-file: S3 secrets are stored unsealed in the Raft log and the state (protected only by the data folder's mode)")
	}
	cfg.RaftBind = set.RaftListen
	ls, err := inheritedListeners(set.GRPCListen, set.HTTPListen, set.RaftListen)
	if err != nil {
		return err
	}
	cfg.RaftListener = ls[2]
	mc := server.MetaConfig{Meta: cfg, GRPC: ls[0], GRPCAddr: set.GRPCListen, HTTP: ls[1], HTTPAddr: set.HTTPListen, Peers: set.APIPeers}
	f.api.apply(&mc)
	m, err := server.NewMeta(mc)
	if err != nil {
		return err
	}
	log := cfg.Logger
	return sf.serve(ctx, m, *f.shutdown, log, func() {
		c := m.Config()
		http := "none"
		if c.HTTP != nil {
			http = c.HTTP.Addr().String()
		}
		log.Info("metadata peer running", "id", c.Meta.ID, "grpc", c.Meta.APIAddr, "raft", c.Meta.RaftAdvertise, "http", http, "join", c.Meta.Join)
	}, "shutting down: handing over leadership if leading, finishing requests")
}
