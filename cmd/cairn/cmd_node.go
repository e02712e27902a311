package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/keyfile"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/server"
	"github.com/cairnfs/cairn/volume"
)

func (a app) runNode(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "drain" {
		return runDrain(ctx, args[1:])
	}
	fs := newFlags("node")
	dir := fs.String("dir", "./cairn-node", "data folder (volumes and node identity)")
	addr := fs.String("addr", ":7070", "data port listen address")
	port := fs.Int("port", 0, "data port, overriding the port of --addr ($DATA_NODE_PORT)")
	advertise := fs.String("advertise", "", "host[:port] clients and peers use to reach this node, may be a DNS name; without a port the data port is used (default: the listen address, 127.0.0.1 for a wildcard host)")
	metaAddrs := fs.String("meta", "127.0.0.1:9090", "metadata peers host:port[,host:port...] ($METADATA_SERVER_ADDR); the node learns the others from them")
	zone := fs.String("zone", "", "failure domain: zone")
	rack := fs.String("rack", "", "failure domain: rack")
	capacity := sizeFlag(0)
	fs.Var(&capacity, "capacity", "bytes to offer, e.g. 500G (default: the file system's size)")
	reserve := sizeFlag(0)
	fs.Var(&reserve, "reserve", "free space to keep: below it the node is full and gets no new chunks (default: twice the largest chunk, at most a twentieth of the disk)")
	heartbeat := fs.Duration("heartbeat-interval", time.Second, "time between heartbeats to the metadata leader")
	scrubBW := sizeFlag(50 << 20)
	fs.Var(&scrubBW, "scrub-bandwidth", "bytes per second the scrubber may read (0 turns it off)")
	scrubEvery := fs.Duration("scrub-interval", 24*time.Hour, "start a full scrub pass at most this often")
	repairBW := sizeFlag(100 << 20)
	fs.Var(&repairBW, "repair-bandwidth", "bytes per second this node may pull for repairs (0 = unlimited)")
	reconcileEvery := fs.Duration("reconcile-interval", 10*time.Minute, "how often to check stored chunks against the metadata")
	reconcileGrace := fs.Duration("reconcile-grace", 15*time.Minute, "an unneeded chunk is deleted when two checks this far apart agree")
	shutdown := fs.Duration("shutdown-timeout", 25*time.Second, "on SIGTERM, how long in-flight transfers may take to finish")
	encKey := fs.String(encryptionKeyFlag, "", encryptionKeyUsage)
	verbose := fs.Bool("v", false, "debug logging")
	aliases := map[string]string{"meta": "METADATA_SERVER_ADDR", "port": "DATA_NODE_PORT"}
	sf, err := a.parseServer(fs, args, aliases)
	if err != nil {
		return err
	}
	sf.insecureListen(aliases, map[string]*string{"addr": addr})
	set, err := deriveNode(nodeInputs{Addr: *addr, Port: *port, Advertise: *advertise, Meta: *metaAddrs})
	if err != nil {
		return err
	}
	if done, err := sf.printConfig(set); done {
		return err
	}
	log := newLogger(*verbose)
	src, err := sf.tls(log)
	if err != nil {
		return err
	}
	vo, err := volumeOptions(*encKey, log)
	if err != nil {
		return err
	}
	ls, err := inheritedListeners(set.Listen)
	if err != nil {
		return err
	}
	n, err := server.NewNode(server.NodeConfig{Listener: ls[0], Addr: set.Listen, Node: node.Config{
		Dir: *dir, Advertise: set.Advertise, Meta: set.Meta, Zone: *zone, Rack: *rack,
		Capacity: int64(capacity), Reserve: int64(reserve), Logger: log, HeartbeatInterval: *heartbeat,
		ScrubBytesPerSec: int64(scrubBW), ScrubInterval: *scrubEvery, RepairBytesPerSec: int64(repairBW),
		ReconcileInterval: *reconcileEvery, ReconcileGrace: *reconcileGrace, TLS: src, Volume: vo}})
	if err != nil {
		return err
	}
	return sf.serve(ctx, n, *shutdown, log, func() {
		log.Info("data node running", "id", n.Node.ID(), "addr", n.Config().Node.Advertise)
	}, "shutting down: telling the metadata leader, finishing transfers")
}

// runDrain is `cairn node drain <id>`: no new chunks go to the node and its
// chunks are copied elsewhere; then it can be removed with nothing
// under-replicated.
func runDrain(ctx context.Context, args []string) error {
	fs := newFlags("node drain")
	cf := addClientFlags(fs)
	undo := fs.Bool("undo", false, "put the node back in service")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: cairn node drain [--undo] <node id>  (ids: cairn cluster status)")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Admin().Drain(ctx, cairn.NodeID(fs.Arg(0)), client.DrainOptions{Undo: *undo}); err != nil {
		return err
	}
	if *undo {
		fmt.Printf("%s is back in service\n", fs.Arg(0))
	} else {
		fmt.Printf("%s is draining: its chunks are being copied to other nodes; watch `cairn cluster status` until it holds none\n", fs.Arg(0))
	}
	return nil
}

const (
	encryptionKeyFlag  = "encryption-key-file"
	encryptionKeyUsage = "file with the key (64 hex digits, mode 0600; cairn cert create-key) that encrypts the stored chunks; without it new chunks are stored in clear, and volumes written with it do not open"
)

// volumeOptions loads the data node's encryption key, if a file is named.
func volumeOptions(path string, log *slog.Logger) (volume.Options, error) {
	if path == "" {
		log.Warn("no --encryption-key-file: chunks are stored unencrypted on disk (protected only by the data folder's mode)")
		return volume.Options{}, nil
	}
	key, err := keyfile.Read(path, "the encryption key", "create one with `cairn cert create-key --out FILE`", true)
	if err != nil {
		return volume.Options{}, err
	}
	log.Info("chunks are encrypted at rest", "key_id", volume.KeyID(key))
	return volume.Options{EncryptionKey: key}, nil
}
