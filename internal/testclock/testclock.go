// Package testclock is the clock tests hand to the code that measures
// time (meta.Config.Now: failure detection, garbage-collection grace,
// upload expiry, write age), so that a test advances time instead of
// sleeping past a timeout.
//
// A Clock runs with the wall clock and can be moved ahead of it: Now is
// time.Now plus everything Advance added. It never stands still, because
// the times it is compared with are taken from the wall clock elsewhere
// (the metadata leader stamps each Raft command with time.Now, and a chunk
// ID carries its writer's wall time): a frozen clock would fall behind
// those stamps as a test runs and see records from the future. Running
// ahead of them is what production sees after a long pause, so Advance(d)
// has the effect of d passing at once, and nothing waits for it.
package testclock

import (
	"sync"
	"time"
)

// Clock is a wall clock that a test can move forward. The zero value
// reads the wall clock. It is safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// New returns a clock that reads the wall clock until advanced.
func New() *Clock { return &Clock{} }

// Now returns the wall-clock time plus every Advance so far. Pass the
// method value (clock.Now) where a func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock d ahead; d must not be negative (a clock that
// goes back is not one the code under test has to cope with).
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("testclock: Advance with a negative duration")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// Ahead reports how far the clock is ahead of the wall clock.
func (c *Clock) Ahead() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offset
}
