package s3

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// serveAdmin answers /-/healthz (the process is up), /-/readyz (the
// metadata service answers: a leader is known). "-" cannot be a bucket
// name, so these paths never shadow S3 requests. /-/metrics is mounted by
// package server, which runs the gateway.
func (g *Gateway) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/-/healthz":
		_, _ = w.Write([]byte("ok\n"))
	case "/-/readyz":
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		st, err := g.admin.Status(ctx)
		if err == nil && st.LeaderID == "" {
			err = errNoLeader
		}
		if err != nil {
			http.Error(w, "not ready: metadata service unreachable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	default:
		http.NotFound(w, r)
	}
}

var errNoLeader = errorf("ServiceUnavailable", "the metadata service has no leader")

type metrics struct {
	requests *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cairn_s3_requests_total",
			Help: "S3 requests served, by operation and HTTP status."}, []string{"op", "status"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cairn_s3_request_seconds",
			Help: "Time to serve S3 requests, by operation.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, []string{"op"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.seconds)
	}
	return m
}

func (m *metrics) observe(op string, status int, d time.Duration) {
	m.requests.WithLabelValues(op, statusText(status)).Inc()
	m.seconds.WithLabelValues(op).Observe(d.Seconds())
}

func statusText(s int) string {
	const digits = "0123456789"
	if s < 100 || s > 999 {
		return "other"
	}
	return string([]byte{digits[s/100], digits[s/10%10], digits[s%10]})
}
