package testcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Day-2 operations: membership changes and graceful stops, the way the
// CLI and SIGTERM do them.

// nodeSeeds are the metadata addresses data nodes are given.
func (c *Cluster) nodeSeeds() []string {
	all := c.MetaAddrs()
	if c.opts.NodeSeeds > 0 && c.opts.NodeSeeds < len(all) {
		return all[:c.opts.NodeSeeds]
	}
	return all
}

// AddMeta starts one more metadata peer that is not an initial peer: it
// starts empty and waits until AddPeer adds it. It returns its index.
func (c *Cluster) AddMeta() int {
	c.t.Helper()
	c.needRaft("AddMeta")
	i := len(c.Metas)
	mp := &MetaPeer{ID: fmt.Sprintf("m%d", i+1), Dir: filepath.Join(c.dir, fmt.Sprintf("meta%d", i+1)), Join: true}
	mp.RaftAddr, mp.GRPCAddr, mp.HTTPAddr = freeAddr(c.t), freeAddr(c.t), freeAddr(c.t)
	mp.Bridge = newBridge()
	c.Metas = append(c.Metas, mp)
	c.StartMeta(i)
	return i
}

// AddPeer makes peer i a voting member through the SDK, as `cairn meta
// add-peer` does (with its API address).
func (c *Cluster) AddPeer(i int) error {
	mp := c.Metas[i]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Client().Admin().AddPeer(ctx, mp.ID, mp.RaftAddr, mp.GRPCAddr); err != nil {
		return fmt.Errorf("adding peer %s: %w", mp.ID, err)
	}
	mp.Removed = false
	return nil
}

// RemovePeer takes peer i out of the membership through the SDK, as `cairn
// meta remove-peer` does. Its process keeps running until StopMeta.
func (c *Cluster) RemovePeer(i int) error {
	mp := c.Metas[i]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Client().Admin().RemovePeer(ctx, mp.ID); err != nil {
		return fmt.Errorf("removing peer %s: %w", mp.ID, err)
	}
	mp.Removed = true
	return nil
}

// Voters returns the IDs of the voting members in the leader's Raft
// configuration, sorted.
func (c *Cluster) Voters() []string {
	c.t.Helper()
	f := c.Metas[c.Leader()].Proc.Server.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		c.t.Fatalf("reading the Raft configuration: %v", err)
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			ids = append(ids, string(s.ID))
		}
	}
	slices.Sort(ids)
	return ids
}

// ShutdownMeta stops peer i gracefully, as SIGTERM does: a leader hands
// over leadership first.
func (c *Cluster) ShutdownMeta(i int) error {
	c.needRaft("ShutdownMeta")
	p := c.Metas[i].Proc
	if p == nil {
		return nil
	}
	c.Metas[i].Proc = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

// ShutdownNode stops data node i gracefully, as SIGTERM does: it tells the
// leader it is leaving and finishes in-flight transfers.
func (c *Cluster) ShutdownNode(i int) error {
	p := c.Nodes[i].Proc
	if p == nil {
		return nil
	}
	c.Nodes[i].Proc = nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}
