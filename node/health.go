package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// diskHealth is the node's view of its disk: the data port marks it failed
// when a chunk write fails, the heartbeat loop probes it and reports it,
// and readiness and /healthz read it.
type diskHealth struct {
	logger  *slog.Logger
	healthy atomic.Bool
	failed  atomic.Bool  // a write failed with an I/O error: stays unhealthy until restart
	msg     atomic.Value // string
}

func newDiskHealth(logger *slog.Logger) *diskHealth {
	h := &diskHealth{logger: logger}
	h.healthy.Store(true)
	h.msg.Store("")
	return h
}

// status reports whether the disk is healthy and, if not, why.
func (h *diskHealth) status() (bool, string) {
	return h.healthy.Load(), h.msg.Load().(string)
}

// markUnhealthy records a disk failure; the next heartbeat reports it.
// A failed chunk write makes it permanent until restart (see writeFailed:
// the store refuses writes after a failed fsync); a failed probe clears
// when a probe works.
func (h *diskHealth) markUnhealthy(err error) {
	if h.healthy.Swap(false) {
		h.logger.Error("data node disk is failing; reporting unhealthy", "err", err)
	}
	h.msg.Store(err.Error())
}

// writeFailed records a failed chunk write: unhealthy until restart.
func (h *diskHealth) writeFailed(err error) {
	h.failed.Store(true)
	h.markUnhealthy(err)
}

// probeOK clears an unhealthy state a failed probe caused; a failed write
// stays.
func (h *diskHealth) probeOK() {
	if !h.healthy.Load() && !h.failed.Load() {
		h.healthy.Store(true)
		h.msg.Store("")
	}
}

// probeDisk writes and syncs a small file in dir to check the disk still
// accepts writes.
func probeDisk(dir string) error {
	path := filepath.Join(dir, ".probe")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write([]byte(time.Now().String())); err != nil {
		return err
	}
	return f.Sync()
}
