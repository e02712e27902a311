package volume

import "sync"

// committer implements group commit. Appenders call wrote after each write
// (under the append lock) and get a ticket; wait blocks until an fdatasync
// that started after the ticket's write has finished. Whoever waits while no
// sync runs becomes the leader and syncs for everyone written so far, so one
// fdatasync covers every write appended before it.
type committer struct {
	mu      sync.Mutex
	cond    sync.Cond
	f       File   // active volume file
	written uint64 // tickets handed out
	synced  uint64 // every ticket <= synced is durable
	syncing bool
	err     error // sticky: after a failed sync nothing more is durable
}

func (c *committer) init() { c.cond.L = &c.mu }

// wrote records a completed write to f and returns its ticket.
func (c *committer) wrote(f File) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.f = f
	c.written++
	return c.written
}

// rolled records that every write so far is durable because the previous
// active file was synced before the roll.
func (c *committer) rolled() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced = max(c.synced, c.written)
	c.cond.Broadcast()
}

// fail makes err sticky and wakes every waiter.
func (c *committer) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
	c.cond.Broadcast()
}

func (c *committer) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// wait returns nil once ticket is durable, or the sync error that makes it
// impossible to know.
func (c *committer) wait(ticket uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.synced < ticket {
		if c.err != nil {
			return c.err
		}
		if c.syncing {
			c.cond.Wait()
			continue
		}
		c.syncing = true
		target, f := c.written, c.f
		c.mu.Unlock()
		err := f.Sync()
		c.mu.Lock()
		c.syncing = false
		if err != nil {
			if c.err == nil {
				c.err = err
			}
		} else {
			c.synced = max(c.synced, target)
		}
		c.cond.Broadcast()
	}
	return nil
}
