package stall

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTrackerPatienceFollowsTheTail(t *testing.T) {
	tr := NewTracker(time.Second, 10*time.Second, 4)
	if got := tr.Patience(); got != time.Second {
		t.Fatalf("patience before any sample = %v, want the floor", got)
	}
	for range 128 {
		tr.Observe(10 * time.Millisecond)
	}
	if got := tr.Patience(); got != time.Second {
		t.Errorf("fast transfers: patience %v, want the floor 1s", got)
	}
	for range 128 {
		tr.Observe(800 * time.Millisecond)
	}
	if got := tr.Patience(); got != 3200*time.Millisecond {
		t.Errorf("800ms transfers: patience %v, want 4 × 800ms", got)
	}
	for range 128 {
		tr.Observe(time.Minute)
	}
	if got := tr.Patience(); got != 10*time.Second {
		t.Errorf("slow transfers: patience %v, want the ceiling", got)
	}
}

func TestWatchdogFiresOnlyWithoutProgress(t *testing.T) {
	ctx, w := Watch(context.Background(), 100*time.Millisecond)
	for range 10 {
		time.Sleep(30 * time.Millisecond)
		w.Progress()
	}
	if ctx.Err() != nil {
		t.Fatalf("canceled although progress came every 30ms: %v", context.Cause(ctx))
	}
	<-ctx.Done()
	if !errors.Is(context.Cause(ctx), ErrStalled) {
		t.Errorf("cause %v, want ErrStalled", context.Cause(ctx))
	}
	if !w.Stop() {
		t.Error("Stop says the watchdog did not fire")
	}

	ctx, w = Watch(context.Background(), time.Hour)
	if w.Stop() {
		t.Error("a stopped watchdog says it fired")
	}
	if errors.Is(context.Cause(ctx), ErrStalled) {
		t.Error("Stop canceled with ErrStalled")
	}
}

func TestPausedWatchdogWaits(t *testing.T) {
	ctx, w := Watch(context.Background(), 50*time.Millisecond)
	defer w.Stop()
	w.Pause()
	time.Sleep(200 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("a paused watchdog fired: %v", context.Cause(ctx))
	}
	w.Progress()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a resumed watchdog never fired")
	}
}

func TestPatienceGrowsWithHops(t *testing.T) {
	tr := NewTracker(time.Second, 4*time.Second, 4)
	if a, b := tr.PatienceFor(1), tr.PatienceFor(3); a != time.Second || b != 3*time.Second {
		t.Errorf("patience for 1 and 3 hops = %v, %v; want 1s, 3s", a, b)
	}
	for range 128 {
		tr.Observe(time.Second) // a slow chain: 4s learned
	}
	if a, b := tr.PatienceFor(1), tr.PatienceFor(2); a != 4*time.Second || b != 4*time.Second {
		t.Errorf("learned 4s: patience for 1 and 2 hops = %v, %v; want 4s both", a, b)
	}
}
