package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/server"
)

func runNode(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "drain" {
		return runDrain(ctx, args[1:])
	}
	fs := newFlags("node")
	dir := fs.String("dir", "./cairn-node", "data folder (volumes and node identity)")
	addr := fs.String("addr", ":7070", "data port listen address")
	advertise := fs.String("advertise", "", "host:port clients and peers use to reach this node (default: the listen address, 127.0.0.1 for a wildcard host)")
	metaAddrs := fs.String("meta", "127.0.0.1:9090", "metadata peers host:port[,host:port...]")
	zone := fs.String("zone", "", "failure domain: zone")
	rack := fs.String("rack", "", "failure domain: rack")
	capacity := sizeFlag(0)
	fs.Var(&capacity, "capacity", "bytes to offer, e.g. 500G (default: the file system's size)")
	heartbeat := fs.Duration("heartbeat-interval", time.Second, "time between heartbeats to the metadata leader")
	scrubBW := sizeFlag(50 << 20)
	fs.Var(&scrubBW, "scrub-bandwidth", "bytes per second the scrubber may read (0 turns it off)")
	scrubEvery := fs.Duration("scrub-interval", 24*time.Hour, "start a full scrub pass at most this often")
	repairBW := sizeFlag(100 << 20)
	fs.Var(&repairBW, "repair-bandwidth", "bytes per second this node may pull for repairs (0 = unlimited)")
	reconcileEvery := fs.Duration("reconcile-interval", 10*time.Minute, "how often to check stored chunks against the metadata")
	reconcileGrace := fs.Duration("reconcile-grace", 15*time.Minute, "an unneeded chunk is deleted when two checks this far apart agree")
	verbose := fs.Bool("v", false, "debug logging")
	if err := parseServer(fs, args, map[string]string{"meta": "METADATA_SERVER_ADDR"}); err != nil {
		return err
	}
	log := newLogger(*verbose)
	l, err := listenRetry(ctx, *addr)
	if err != nil {
		return err
	}
	adv := *advertise
	if adv == "" {
		host, port, _ := net.SplitHostPort(l.Addr().String())
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		adv = net.JoinHostPort(host, port)
	}
	n, err := server.StartNode(server.NodeOptions{Listener: l, Node: node.Config{
		Dir: *dir, Advertise: adv, Meta: strings.Split(*metaAddrs, ","), Zone: *zone, Rack: *rack,
		Capacity: int64(capacity), Logger: log, HeartbeatInterval: *heartbeat,
		ScrubBytesPerSec: int64(scrubBW), ScrubInterval: *scrubEvery, RepairBytesPerSec: int64(repairBW),
		ReconcileInterval: *reconcileEvery, ReconcileGrace: *reconcileGrace}})
	if err != nil {
		return err
	}
	log.Info("data node running", "id", n.Node.ID(), "addr", adv)
	<-ctx.Done()
	log.Info("shutting down")
	return n.Close()
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
	if err := c.Drain(ctx, fs.Arg(0), *undo); err != nil {
		return err
	}
	if *undo {
		fmt.Printf("%s is back in service\n", fs.Arg(0))
	} else {
		fmt.Printf("%s is draining: its chunks are being copied to other nodes; watch `cairn cluster status` until it holds none\n", fs.Arg(0))
	}
	return nil
}
