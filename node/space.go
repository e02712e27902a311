package node

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/volume"
)

// A full disk is a state of the node, not an error of each write. The
// node keeps a reserve of free space (Config.Reserve): below it the node
// is full — it says so in its heartbeats, the metadata leader places no
// new chunk on it, `cairn cluster status` shows it, a gauge and a log
// line mark the change — and it refuses a chunk that would leave less
// than half the reserve before reading a byte of it, so writes already
// placed there finish and the client sends refused ones elsewhere at
// once. When space returns (chunks deleted, compaction, a bigger disk)
// the node is writable again at its next heartbeat.
type diskSpace struct {
	cfg   *Config
	log   *slog.Logger
	store *volume.Store // set by Start
	full  atomic.Bool
	free  atomic.Int64  // at the last check
	kick  chan struct{} // a heartbeat soon: the node just became full
}

func newDiskSpace(cfg *Config, reg *prometheus.Registry) *diskSpace {
	s := &diskSpace{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_node_free_bytes",
			Help: "Space the node can still write: the file system's free space, bounded by the configured capacity."},
			func() float64 { return float64(s.free.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_node_full",
			Help: "1 while the node keeps less than its reserve free and takes no new chunks."},
			func() float64 {
				if s.full.Load() {
					return 1
				}
				return 0
			}))
	return s
}

// space is the node's usable size, what it can still write and its
// reserve.
type space struct{ total, free, reserve int64 }

func (sp space) String() string {
	return fmt.Sprintf("%s free of %s, keeps %s in reserve", bytesIEC(sp.free), bytesIEC(sp.total), bytesIEC(sp.reserve))
}

// check measures the free space, notes whether the node is full (logging
// a change), and returns the measure.
func (s *diskSpace) check() space {
	var st unix.Statfs_t
	var sp space
	if err := unix.Statfs(s.cfg.Dir, &st); err == nil {
		sp.total = int64(st.Blocks) * int64(st.Bsize)
		sp.free = int64(st.Bavail) * int64(st.Bsize)
	}
	if s.cfg.Capacity > 0 {
		sp.total = s.cfg.Capacity
		if s.store != nil {
			sp.free = min(sp.free, max(0, s.cfg.Capacity-s.store.Stats().DiskBytes))
		}
	}
	sp.reserve = s.cfg.Reserve
	if sp.reserve <= 0 {
		sp.reserve = min(2*s.cfg.MaxChunkSize, sp.total/20)
	}
	s.free.Store(sp.free)
	full := sp.free < sp.reserve
	if was := s.full.Swap(full); was != full {
		if full {
			s.log.Warn("disk full: this node takes no new chunks until space returns", "dir", s.cfg.Dir, "space", sp.String())
			select {
			case s.kick <- struct{}{}:
			default:
			}
		} else {
			s.log.Info("disk has room again: this node takes new chunks", "dir", s.cfg.Dir, "space", sp.String())
		}
	}
	return sp
}

// admit refuses a chunk of size bytes that would leave less than half the
// reserve, before any of it is read.
func (s *diskSpace) admit(id cairn.ChunkID, size int64) error {
	sp := s.check()
	if sp.free-size >= sp.reserve/2 {
		return nil
	}
	return cairn.E("node.put", cairn.PathArg(id.String()), cairn.NoSpace,
		fmt.Errorf("this data node is full (%s); the chunk must go to another node", sp))
}

// bytesIEC renders n bytes for messages: "12.0 MiB".
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
