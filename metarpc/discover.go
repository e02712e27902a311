package metarpc

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cairnfs/cairn/proto/cairnpb"
)

// Discovery: a Conn learns the metadata peers' API addresses from the
// cluster itself (the Peers RPC, answered by any peer; the leader's answer
// is preferred) after its first successful call, every
// Options.RefreshEvery after that, and about a second after a peer fails.
// An answer in which some member has no API address yet (a peer records
// its own a moment after it starts following) is used but counts as
// incomplete: the Conn asks again a second later, until it knows all.
// The learned peers are tried first and the addresses given to Dial last,
// so a client given one address keeps working when that peer is removed
// or replaced, and a stable seed (a Kubernetes Service name) stays useful.
// Refreshes run in the background, one at a time; a failed one changes
// nothing and is retried at the next trigger.

// refreshAfterFailure is the least time between refreshes that failures
// trigger.
const refreshAfterFailure = time.Second

type discovery struct {
	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	running bool
	last    time.Time // when the last refresh started
	learned bool      // a refresh has succeeded with every member's address
}

func (d *discovery) init() { d.ctx, d.cancel = context.WithCancel(context.Background()) }

// lastRefreshed reports whether a refresh has run to its end.
func (d *discovery) lastRefreshed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.last.IsZero() && !d.running
}

func (d *discovery) stop() {
	d.mu.Lock()
	d.cancel()
	d.mu.Unlock()
	d.wg.Wait()
}

// maybeRefresh starts a background refresh if none runs and the last one
// is old enough: RefreshEvery normally, a second after a failure or while
// the peer list is not known completely.
func (c *Conn) maybeRefresh(failed bool) {
	if c.opts.RefreshEvery < 0 {
		return
	}
	d := &c.disc
	d.mu.Lock()
	defer d.mu.Unlock()
	gap := c.opts.RefreshEvery
	if failed || !d.learned {
		gap = min(gap, refreshAfterFailure)
	}
	if d.running || d.ctx.Err() != nil || time.Since(d.last) < gap {
		return
	}
	d.running, d.last = true, time.Now()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		complete := c.refresh(d.ctx)
		d.mu.Lock()
		d.running = false
		d.learned = complete
		d.mu.Unlock()
	}()
}

// refresh asks the known peers, the leader first, for the members and
// adopts the leader's answer, or another peer's if no leader answers. It
// reports whether it learned every member's address.
func (c *Conn) refresh(ctx context.Context) bool {
	queue := c.Addrs()
	if l := c.currentLeader(); l != "" {
		queue = append([]string{l}, queue...)
	}
	tried := map[string]bool{}
	var fallback *cairnpb.PeersResponse
	for len(queue) > 0 && ctx.Err() == nil {
		addr := queue[0]
		queue = queue[1:]
		if tried[addr] {
			continue
		}
		tried[addr] = true
		resp, err := c.askPeers(ctx, addr)
		if err != nil {
			continue // down, or a server without the Peers RPC
		}
		if resp.ResponderIsLeader {
			return c.learn(resp)
		}
		if fallback == nil {
			fallback = resp
		}
		if resp.LeaderAddr != "" {
			queue = append([]string{resp.LeaderAddr}, queue...)
		}
	}
	return fallback != nil && c.learn(fallback)
}

func (c *Conn) askPeers(ctx context.Context, addr string) (*cairnpb.PeersResponse, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return cairnpb.NewClusterClient(cc).Peers(ctx, &cairnpb.PeersRequest{})
}

// learn makes the members' API addresses the peers to try, followed by the
// seeds that are not among them. It reports whether every member had one.
func (c *Conn) learn(resp *cairnpb.PeersResponse) bool {
	var addrs []string
	complete := true
	for _, p := range resp.Peers {
		if p.ApiAddr == "" {
			complete = false
		} else if !slices.Contains(addrs, p.ApiAddr) {
			addrs = append(addrs, p.ApiAddr)
		}
	}
	if len(addrs) == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.seeds {
		if !slices.Contains(addrs, s) {
			addrs = append(addrs, s)
		}
	}
	c.addrs = addrs
	return complete
}

func (c *Conn) currentLeader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}
