package meta

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/cairnfs/cairn"
)

// leaderCheck coalesces leadership verification for linearizable reads: a
// read waits for a VerifyLeader round that started after the read arrived;
// all reads that arrive while one round runs share the next one.
type leaderCheck struct {
	r       *raft.Raft
	stop    <-chan struct{} // closed when the peer shuts down
	mu      sync.Mutex
	pending *round
	running bool
	wg      sync.WaitGroup
}

type round struct {
	done chan struct{}
	err  error
}

func newLeaderCheck(r *raft.Raft, stop <-chan struct{}) *leaderCheck {
	return &leaderCheck{r: r, stop: stop}
}

func (c *leaderCheck) wait(ctx context.Context) error {
	c.mu.Lock()
	if c.pending == nil {
		c.pending = &round{done: make(chan struct{})}
	}
	r := c.pending
	if !c.running {
		c.running = true
		c.wg.Add(1)
		go c.loop()
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return cairn.E("meta.read", cairn.Canceled, ctx.Err())
	}
}

func (c *leaderCheck) loop() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		r := c.pending
		c.pending = nil
		if r == nil {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		r.err = c.verify()
		close(r.done)
	}
}

// verify runs one VerifyLeader round. Raft answers a verification it
// queued just before it shut down never (its future has no shutdown
// channel), so the wait ends at the peer's shutdown too; the goroutine
// left waiting on such a future is the price of not hanging Close.
func (c *leaderCheck) verify() error {
	f := c.r.VerifyLeader()
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-c.stop:
		return raft.ErrRaftShutdown
	}
}

func (c *leaderCheck) close() { c.wg.Wait() }
