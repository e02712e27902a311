package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnfs/cairn/volume"
)

type metrics struct {
	writes      *prometheus.CounterVec // by result
	writeBytes  prometheus.Counter
	reads       *prometheus.CounterVec
	readBytes   prometheus.Counter
	writeSecond prometheus.Histogram
	scrubbed    prometheus.Counter
	corrupt     prometheus.Counter
	// tokenRefusals counts user chunk requests refused, by reason.
	tokenRefusals *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_node_chunk_writes_total",
			Help: "Chunk writes received on the data port, by result."}, []string{"result"}),
		writeBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_node_chunk_write_bytes_total",
			Help: "Chunk bytes stored durably."}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_node_chunk_reads_total",
			Help: "Chunk reads served, by result."}, []string{"result"}),
		readBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_node_chunk_read_bytes_total",
			Help: "Chunk bytes sent."}),
		writeSecond: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cairn_node_chunk_write_seconds",
			Help: "Time from first byte to durable acknowledgement of a chunk write, including the chain.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	m.scrubbed = prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_node_scrubbed_bytes_total",
		Help: "Chunk bytes re-read and verified by the scrubber."})
	m.corrupt = prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_node_corrupt_replicas_total",
		Help: "Replicas found corrupt (by the scrubber or on a client's request) and reported."})
	m.tokenRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_node_token_refusals_total",
		Help: "Chunk requests refused for want of a valid capability token (or certificate), by reason."}, []string{"reason"})
	reg.MustRegister(m.writes, m.writeBytes, m.reads, m.readBytes, m.writeSecond, m.scrubbed, m.corrupt, m.tokenRefusals)
	return m
}

func (m *metrics) registerStore(reg *prometheus.Registry, s *volume.Store) {
	gauge := func(name, help string, f func(volume.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(s.Stats()) })
	}
	reg.MustRegister(
		gauge("cairn_node_chunks", "Live chunks stored.", func(st volume.Stats) float64 { return float64(st.Chunks) }),
		gauge("cairn_node_live_bytes", "Data bytes of live chunks.", func(st volume.Stats) float64 { return float64(st.LiveBytes) }),
		gauge("cairn_node_garbage_bytes", "Bytes compaction can reclaim.", func(st volume.Stats) float64 { return float64(st.GarbageBytes) }),
		gauge("cairn_node_disk_bytes", "Total size of volume files.", func(st volume.Stats) float64 { return float64(st.DiskBytes) }),
	)
}
