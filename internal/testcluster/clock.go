package testcluster

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnfs/cairn/internal/await"
)

// Advance moves the metadata peers' clock d ahead, as if d passed at once
// for failure detection, garbage-collection grace, upload expiry and write
// age: a node stopped before the call is dead after Advance(NodeDeadAfter),
// a chunk released before it is past a grace of d. The background rounds
// that act on it run every 200 ms (repair, GC); wait for their effect with
// await.
//
// Running data nodes heartbeat in real time, so one jump past the suspect
// timeout would make them look dead too until their next heartbeat, and
// repair would take their replicas away. Advance therefore moves in steps
// of half the suspect timeout and after each waits until the leader has
// heard from every running data node at the new time: running nodes stay
// alive throughout, and only stopped ones age.
func (c *Cluster) Advance(d time.Duration) {
	c.t.Helper()
	step := c.NodeSuspectAfter() / 2
	for d > 0 {
		s := min(d, step)
		c.Clock.Advance(s)
		d -= s
		c.waitBeats(c.Clock.Now())
	}
}

// NodeSuspectAfter is how long the metadata peers wait for a data node's
// heartbeat before they see it as suspect.
func (c *Cluster) NodeSuspectAfter() time.Duration { return testMetaConfig().NodeSuspectAfter }

// NodeDeadAfter is how long the metadata peers wait for a data node's
// heartbeat before they see it as dead and repair its chunks.
func (c *Cluster) NodeDeadAfter() time.Duration {
	if c.opts.NodeDeadAfter > 0 {
		return c.opts.NodeDeadAfter
	}
	return testMetaConfig().NodeDeadAfter
}

// waitBeats waits until the leader has a heartbeat at or after since (on
// the cluster's clock) from every running data node.
func (c *Cluster) waitBeats(since time.Time) {
	c.t.Helper()
	running := map[string]bool{}
	for _, n := range c.Nodes {
		if n.Proc != nil {
			running[string(n.Proc.Node.ID())] = true
		}
	}
	if len(running) == 0 {
		return
	}
	cl := c.Client()
	await.Until(c.t, time.Minute, func() error { // generous: CI machines are loaded
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cl.Admin().Status(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("asking for heartbeats: %w", err)
		}
		heard := 0
		for _, n := range st.Nodes {
			if running[string(n.ID)] && !n.LastHeartbeat.Before(since) {
				heard++
			}
		}
		if heard < len(running) {
			return fmt.Errorf("%d of %d running data nodes heartbeat since the clock moved to %v", heard, len(running), since.Format(time.TimeOnly))
		}
		return nil
	})
}
