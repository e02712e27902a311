// Package await is the one way tests wait for something to become true:
// it polls a condition with a short, growing interval until the condition
// holds or a deadline passes, and then fails the test with the
// condition's last complaint. It replaces sleep loops, whose fixed
// interval is either too slow on a fast machine or too short on a busy one.
//
// A deadline in await is a limit on how long a broken test may hang, not
// an assertion about speed: choose it generously (tens of seconds for
// anything that involves a cluster), because a busy 2-core machine can be
// ten times slower than a developer's laptop.
package await

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

const (
	firstInterval = time.Millisecond
	maxInterval   = 100 * time.Millisecond
)

// Until calls cond until it returns nil and fails the test (t.Fatalf) if
// it still returns an error after timeout; the message carries the last
// error. Call it only from the test's goroutine.
func Until(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	if err := Poll(context.Background(), timeout, cond); err != nil {
		t.Fatalf("not done after %v: %v", timeout, err)
	}
}

// UntilEvery is Until for a condition that is expensive to check (it
// starts a process, asks a whole cluster): it calls cond at most every
// interval.
func UntilEvery(t testing.TB, timeout, interval time.Duration, cond func() error) {
	t.Helper()
	if err := poll(context.Background(), timeout, interval, cond); err != nil {
		t.Fatalf("not done after %v: %v", timeout, err)
	}
}

// True calls cond until it returns true and fails the test after timeout,
// saying that what never happened.
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Until(t, timeout, func() error {
		if cond() {
			return nil
		}
		return errors.New(what + ": not yet")
	})
}

// Poll calls cond until it returns nil, ctx ends or timeout passes,
// sleeping between calls (1 ms at first, doubling up to 100 ms). It returns
// nil once cond succeeded, else an error wrapping cond's last error. Use
// it where the test must not stop at once (another goroutine, a cleanup),
// and Until everywhere else.
func Poll(ctx context.Context, timeout time.Duration, cond func() error) error {
	return poll(ctx, timeout, maxInterval, cond)
}

func poll(ctx context.Context, timeout, maxInterval time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	interval := min(firstInterval, maxInterval)
	// At most one call per millisecond of the timeout (plus one), so the
	// loop is bounded in count as well as in time.
	maxCalls := int(timeout/firstInterval) + 1
	var err error
	for i := 0; i < maxCalls; i++ {
		if err = cond(); err == nil {
			return nil
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %v)", err, ctx.Err())
		case <-t.C:
		}
		interval = min(2*interval, maxInterval)
	}
	return fmt.Errorf("%w (gave up after %d attempts)", err, maxCalls)
}
