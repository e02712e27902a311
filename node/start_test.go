package node_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/node"
)

// TestNewStartsNothingStartRunsOnce: New only validates and fills in
// defaults (no goroutine, no directory; the volume compactor and the
// loops start in Start); Start runs once; Close is idempotent and Start
// after it fails.
func TestNewStartsNothingStartRunsOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node")
	cfg := node.Config{Dir: dir, Advertise: "127.0.0.1:1", Meta: []string{deadAddr(t)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	// Goroutines of earlier tests (a transport still dialing, say) may
	// start others while New runs: a goroutine New started shows in
	// every try, theirs in few.
	var n *node.Node
	for try := 0; ; try++ {
		before := runtime.NumGoroutine()
		var err error
		if n, err = node.New(cfg); err != nil {
			t.Fatal(err)
		}
		g := runtime.NumGoroutine()
		if g <= before {
			break
		}
		if try == 4 {
			t.Fatalf("New started %d goroutines", g-before)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New touched the data directory: %v", err)
	}
	if n.ID() != "" {
		t.Errorf("ID before Start = %q", n.ID())
	}
	if c := n.Config(); c.HeartbeatInterval != time.Second || c.Registry == nil || c.Transport == nil {
		t.Errorf("Config lacks the defaults: heartbeat %v, registry %v, transport %v", c.HeartbeatInterval, c.Registry, c.Transport)
	}
	if ok, why := n.ReadyStatus(); ok || why != "not started" {
		t.Errorf("ReadyStatus before Start = %v %q", ok, why)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.ID() == "" || n.Store() == nil {
		t.Error("Start did not open the identity and the store")
	}
	if err := n.Start(context.Background()); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("second Start: %v, want an Invalid error", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := n.Start(context.Background()); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("Start after Close: %v, want an Invalid error", err)
	}
}
