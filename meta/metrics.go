package meta

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnfs/cairn"
)

// metrics are the metadata peer's Prometheus metrics.
type metrics struct {
	proposals *prometheus.CounterVec
	propose   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		proposals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_meta_proposals_total",
			Help: "Commands proposed to Raft on this peer, by result kind."}, []string{"result"}),
		propose: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "cairn_meta_propose_seconds",
			Help: "Time from proposal to applied result.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	if reg == nil {
		return m
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	repairDesc := prometheus.NewDesc("cairn_meta_repair", "Self-healing progress on the leader since it was elected (chunks, or bytes for bytes_moved).", []string{"what"}, nil)
	nodes := prometheus.NewDesc("cairn_meta_data_nodes", "Registered data nodes by state, as this peer sees them.", []string{"state"}, nil)
	reg.MustRegister(m.proposals, m.propose,
		gauge("cairn_meta_is_leader", "1 if this peer is the Raft leader and ready.", func() float64 {
			if s.IsLeader() {
				return 1
			}
			return 0
		}),
		gauge("cairn_meta_applied_index", "Last Raft index applied to the state machine.", func() float64 { return float64(s.st.AppliedIndex()) }),
		gauge("cairn_meta_commit_index", "Raft commit index known to this peer.", func() float64 {
			if s.raft == nil {
				return 0
			}
			return float64(s.raft.CommitIndex())
		}),
		gauge("cairn_meta_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.", func() float64 {
			if s.raft == nil {
				return float64(raft.Shutdown)
			}
			return float64(s.raft.State())
		}),
		collectorFunc{desc: repairDesc, collect: func(ch chan<- prometheus.Metric) {
			if s.heal == nil || !s.IsLeader() {
				return
			}
			st := s.heal.Status()
			for what, v := range map[string]uint64{"queued": st.Queued, "in_flight": st.InFlight, "repaired": st.Repaired,
				"failed": st.Failed, "bytes_moved": st.BytesMoved, "rebalance_queued": st.RebalanceQueued,
				"rebalance_moved": st.RebalanceMoved, "garbage_queued": st.GarbageQueued, "garbage_deleted": st.GarbageDeleted} {
				ch <- prometheus.MustNewConstMetric(repairDesc, prometheus.GaugeValue, float64(v), what)
			}
		}},
		collectorFunc{desc: nodes, collect: func(ch chan<- prometheus.Metric) {
			counts := map[string]int{}
			for _, st := range []cairn.NodeState{cairn.NodeAlive, cairn.NodeSuspect, cairn.NodeDead, cairn.NodeDraining, cairn.NodeLeaving} {
				counts[st.String()] = 0
			}
			for _, n := range s.reg.Status() {
				counts[n.State]++
			}
			for state, n := range counts {
				ch <- prometheus.MustNewConstMetric(nodes, prometheus.GaugeValue, float64(n), state)
			}
		}},
	)
	return m
}

func (m *metrics) observe(start time.Time, err error) {
	result := "ok"
	if err != nil {
		result = cairn.KindOf(err).String()
	}
	m.proposals.WithLabelValues(result).Inc()
	m.propose.Observe(time.Since(start).Seconds())
}

// collectorFunc is a Collector from a description and a function.
type collectorFunc struct {
	desc    *prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
