package await

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPollSucceedsOnceCondHolds(t *testing.T) {
	calls := 0
	err := Poll(context.Background(), time.Minute, func() error {
		calls++
		if calls < 4 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("Poll = %v after %d calls, want nil after 4", err, calls)
	}
}

func TestPollReportsLastError(t *testing.T) {
	calls := 0
	last := errors.New("still broken")
	err := Poll(context.Background(), 20*time.Millisecond, func() error {
		calls++
		return last
	})
	if !errors.Is(err, last) {
		t.Fatalf("Poll = %v, want it to wrap the condition's last error", err)
	}
	if calls < 2 {
		t.Fatalf("cond called %d times, want it retried", calls)
	}
}

func TestPollStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Poll(ctx, time.Hour, func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Fatalf("Poll with a canceled context = %v, want it to give up with context.Canceled", err)
	}
}

// recorder is a testing.TB that records Fatalf instead of stopping.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

func TestTrueFailsTheTestAfterTimeout(t *testing.T) {
	r := &recorder{TB: t}
	True(r, 10*time.Millisecond, "the moon turned blue", func() bool { return false })
	if r.failed == "" {
		t.Fatal("True did not fail the test for a condition that never held")
	}
	r = &recorder{TB: t}
	True(r, time.Minute, "ok", func() bool { return true })
	if r.failed != "" {
		t.Fatal("True failed the test for a condition that held")
	}
}
