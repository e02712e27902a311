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
	before := runtime.NumGoroutine()
	n, err := node.New(node.Config{Dir: dir, Advertise: "127.0.0.1:1", Meta: []string{deadAddr(t)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("New started %d goroutines", g-before)
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
