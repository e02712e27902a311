package meta_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/meta"
)

// TestNewStartsNothingStartRunsOnce: New only validates (no goroutine,
// no directory, no listener); Start opens and runs the peer; Close is
// idempotent and Start after it fails.
func TestNewStartsNothingStartRunsOnce(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := meta.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.RaftListener, cfg.DefaultReplication = "m1", filepath.Join(t.TempDir(), "m1"), lis, 1
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLease = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	before := runtime.NumGoroutine()
	s, err := meta.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("New started %d goroutines", n-before)
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New touched the data directory: %v", err)
	}
	if ok, why := s.ReadyStatus(); ok || why != "not started" {
		t.Errorf("ReadyStatus before Start = %v %q", ok, why)
	}
	if s.Config().Logger == nil || s.Config().RaftAdvertise != lis.Addr().String() {
		t.Errorf("Config lacks the defaults: logger %v, advertise %q", s.Config().Logger, s.Config().RaftAdvertise)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("second Start: %v, want an Invalid error", err)
	}
	await.True(t, 10*time.Second, "a single peer leads", s.IsLeader)
	// A lone voter has nobody to hand leadership to: not an error.
	if err := s.TransferLeadership(context.Background()); err != nil {
		t.Errorf("TransferLeadership of the only voter: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := s.Start(context.Background()); cairn.KindOf(err) != cairn.Invalid {
		t.Errorf("Start after Close: %v, want an Invalid error", err)
	}
}
