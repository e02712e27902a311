package main

import (
	"context"
	"flag"
	"fmt"
	"time"
)

// runAddPeer is `cairn meta add-peer <id> <raft-addr> [--api-addr host:port]`:
// the leader adds the peer as a non-voter, waits until it has caught up
// with the log, and makes it a voter. Start the new peer first (with
// --join, or as a StatefulSet pod beyond --cluster-size).
func runAddPeer(ctx context.Context, args []string) error {
	fs := newFlags("meta add-peer")
	cf := addClientFlags(fs)
	api := fs.String("api-addr", "", "the new peer's gRPC address host:port (default: the peer records its own once it follows)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for the new peer to catch up")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("usage: cairn meta add-peer <id> <raft-host:port> [--api-addr host:port]")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := c.Admin().AddPeer(ctx, pos[0], pos[1], *api); err != nil {
		return err
	}
	fmt.Printf("%s (raft %s) is a voting member of the metadata cluster; see `cairn cluster status`\n", pos[0], pos[1])
	return nil
}

// runRemovePeer is `cairn meta remove-peer <id>`.
func runRemovePeer(ctx context.Context, args []string) error {
	fs := newFlags("meta remove-peer")
	cf := addClientFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: cairn meta remove-peer <id>  (ids: cairn cluster status)")
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Admin().RemovePeer(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Printf("%s is no longer a member of the metadata cluster; stop its process (and delete its data folder before reusing the ID)\n", pos[0])
	return nil
}

// parseInterleaved parses a client command whose flags may come before,
// between or after its positional arguments, and returns the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args, nil); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
