package testclock

import (
	"sync"
	"testing"
	"time"

	"github.com/cairnfs/cairn/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m, nil) }

func TestAdvanceMovesNowAhead(t *testing.T) {
	c := New()
	before := time.Now()
	c.Advance(time.Hour)
	if got := c.Now(); got.Sub(before) < time.Hour {
		t.Fatalf("after Advance(1h) Now is %v ahead of a wall-clock reading taken before, want at least 1h", got.Sub(before))
	}
	if c.Ahead() != time.Hour {
		t.Fatalf("Ahead = %v, want 1h", c.Ahead())
	}
}

func TestNeverBehindTheWallClock(t *testing.T) {
	var c Clock // the zero value reads the wall clock
	wall := time.Now()
	if c.Now().Before(wall) {
		t.Fatal("Now is behind a wall-clock reading taken before it")
	}
}

func TestConcurrentUse(t *testing.T) {
	c := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); c.Advance(time.Second) }()
		go func() { defer wg.Done(); _ = c.Now() }()
	}
	wg.Wait()
	if c.Ahead() != 8*time.Second {
		t.Fatalf("Ahead = %v after eight Advance(1s), want 8s", c.Ahead())
	}
}

func TestAdvanceRefusesToGoBack(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Advance(-1s) did not panic")
		}
	}()
	New().Advance(-time.Second)
}
