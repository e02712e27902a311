// Package stall bounds how long a transfer may make no progress. A
// Tracker learns how long healthy transfers take to answer and derives the
// patience for the next one from that tail (a multiple of the recent 99th
// percentile, within a floor and a ceiling); a Watchdog cancels a transfer
// that goes that long without progress, so one frozen peer costs a few
// seconds, never the length of its freeze.
package stall

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker keeps the most recent answer times of healthy transfers. It is
// safe for concurrent use.
type Tracker struct {
	floor, ceiling time.Duration
	mult           float64

	mu      sync.Mutex
	samples [128]time.Duration
	n       int // samples recorded, capped at len(samples)
	next    int
	cached  time.Duration // mult × the recent 99th percentile; 0 until learned
}

// NewTracker returns a tracker whose patience is mult times the recent
// 99th percentile, never below floor nor above ceiling (floor until it has
// seen enough transfers).
func NewTracker(floor, ceiling time.Duration, mult float64) *Tracker {
	return &Tracker{floor: floor, ceiling: ceiling, mult: mult}
}

// Observe records a healthy transfer's answer time.
func (t *Tracker) Observe(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.samples[t.next] = d
	t.next = (t.next + 1) % len(t.samples)
	t.n = min(t.n+1, len(t.samples))
	if t.n < 16 || t.next%8 != 0 {
		return // too few to speak of a tail; or recompute only now and then
	}
	s := slices.Clone(t.samples[:t.n])
	slices.Sort(s)
	p99 := s[(len(s)*99)/100]
	t.cached = time.Duration(float64(p99) * t.mult)
}

// Patience is how long a transfer may go without progress before it is
// given up.
func (t *Tracker) Patience() time.Duration { return t.PatienceFor(1) }

// PatienceFor is the patience for a transfer that passes through hops
// peers one after the other (a replication chain): the floor and ceiling
// grow with the hops, so that each hop gives up on the one after it
// before the hop before it gives up on it, and the peer that froze is the
// one blamed. The learned tail already spans the whole chain.
func (t *Tracker) PatienceFor(hops int) time.Duration {
	hops = max(hops, 1)
	t.mu.Lock()
	learned := t.cached
	t.mu.Unlock()
	return min(max(learned, t.floor*time.Duration(hops)), t.ceiling*time.Duration(hops))
}

// ErrStalled is the cause of a context a Watchdog canceled.
var ErrStalled = errors.New("no progress")

// Watchdog cancels a context when Progress has not been called for its
// patience. Start one per transfer; Stop it when the transfer ends.
type Watchdog struct {
	cancel   context.CancelCauseFunc
	patience time.Duration
	last     atomic.Int64 // unix nanoseconds of the last progress
	stop     chan struct{}
	fired    atomic.Bool
}

// Watch returns a context canceled (with cause ErrStalled, wrapped with
// the patience) when Progress goes unannounced for patience, and the
// watchdog.
func Watch(ctx context.Context, patience time.Duration) (context.Context, *Watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &Watchdog{cancel: cancel, patience: patience, stop: make(chan struct{})}
	w.Progress()
	go w.run()
	return ctx, w
}

func (w *Watchdog) run() {
	t := time.NewTimer(w.patience)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			last := w.last.Load()
			if last == paused {
				t.Reset(w.patience)
				continue
			}
			idle := time.Since(time.Unix(0, last))
			if idle >= w.patience {
				w.fired.Store(true)
				w.cancel(&Error{Patience: w.patience})
				return
			}
			t.Reset(w.patience - idle)
		}
	}
}

// Progress notes that the transfer moved, and resumes a paused watch.
func (w *Watchdog) Progress() { w.last.Store(time.Now().UnixNano()) }

// paused is Watchdog.last while the transfer waits on its own source.
const paused = math.MaxInt64

// Pause stops the watch until the next Progress: the transfer is waiting
// for its own source, not on the peer being watched.
func (w *Watchdog) Pause() { w.last.Store(paused) }

// Stop ends the watch (and releases the context); it reports whether the
// watchdog had fired.
func (w *Watchdog) Stop() bool {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.cancel(context.Canceled)
	return w.fired.Load()
}

// Error says a transfer was given up after making no progress.
type Error struct{ Patience time.Duration }

func (e *Error) Error() string {
	return "no progress for " + e.Patience.Round(time.Millisecond).String()
}

// Is makes errors.Is(err, ErrStalled) hold.
func (e *Error) Is(target error) bool { return target == ErrStalled }

// Reader reports every read that returns bytes as progress.
type Reader struct {
	R io.Reader
	W *Watchdog
}

func (r Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	if n > 0 {
		r.W.Progress()
	}
	return n, err
}
