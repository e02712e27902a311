package bwlimit

import (
	"context"
	"testing"
	"time"
)

func TestWaitPaces(t *testing.T) {
	// 6 MiB at 20 MiB/s with a 1 MiB burst needs 0.25 s of tokens. With
	// only 0.1 s to go, the limiter refuses: no clock reading can make it
	// pass, since tokens accrue in real time.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := Wait(ctx, New(20<<20), 6<<20); err == nil {
		t.Fatal("6 MiB passed a 20 MiB/s limit within 0.1 s; the limit was not applied")
	}
	if err := Wait(context.Background(), New(20<<20), 1<<20); err != nil {
		t.Fatalf("the 1 MiB burst did not pass: %v", err)
	}
	if err := Wait(context.Background(), New(0), 1<<40); err != nil {
		t.Fatal(err)
	}
	canceled, stop := context.WithCancel(context.Background())
	stop()
	if err := Wait(canceled, New(1<<20), 100<<20); err == nil {
		t.Fatal("a cancelled wait returned nil")
	}
}
