package bwlimit

import (
	"context"
	"testing"
	"time"
)

func TestWaitPaces(t *testing.T) {
	lim := New(20 << 20) // 20 MiB/s, burst 1 MiB
	start := time.Now()
	if err := Wait(context.Background(), lim, 6<<20); err != nil {
		t.Fatal(err)
	}
	// 6 MiB at 20 MiB/s with a 1 MiB burst takes at least 0.25 s.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("6 MiB passed in %v; the limit was not applied", d)
	}
	if err := Wait(context.Background(), New(0), 1<<40); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, New(1<<20), 100<<20); err == nil {
		t.Fatal("a cancelled wait returned nil")
	}
}
