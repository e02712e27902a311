// Package server wires Cairn's roles into running processes: a metadata
// peer with its gRPC API and HTTP endpoints, a data node with its data
// port, or both in one process (`cairn server`). The command line and the
// in-process test cluster both start roles through here.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/httpapi"
	"github.com/cairnfs/cairn/meta/grpcapi"

	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/metarpc"
	"github.com/cairnfs/cairn/node"
)

// MetaOptions configure a metadata peer process.
type MetaOptions struct {
	Meta meta.Config
	GRPC net.Listener // the gRPC API
	HTTP net.Listener // REST API, health, metrics; nil = none
	// Peers are the gRPC addresses of all metadata peers, for the REST API's
	// client; default this peer's own.
	Peers []string
}

// Meta is a running metadata peer.
type Meta struct {
	Server *meta.Server
	grpc   *grpc.Server
	http   *http.Server
	api    *client.Client
	log    *slog.Logger
	done   chan struct{}
}

// StartMeta starts a metadata peer serving on the given listeners.
func StartMeta(o MetaOptions) (*Meta, error) {
	if o.Meta.APIAddr == "" {
		o.Meta.APIAddr = o.GRPC.Addr().String()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	o.Meta.Registry = reg
	srv, err := meta.New(o.Meta)
	if err != nil {
		return nil, err
	}
	m := &Meta{Server: srv, log: o.Meta.Logger, done: make(chan struct{})}
	if m.log == nil {
		m.log = slog.Default()
	}
	m.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(metarpc.MaxMessageSize), grpc.MaxSendMsgSize(metarpc.MaxMessageSize))
	grpcapi.NewService(srv).Register(m.grpc)
	go func() {
		defer close(m.done)
		if err := m.grpc.Serve(o.GRPC); err != nil {
			o.Meta.Logger.Error("metadata gRPC server stopped", "err", err)
		}
	}()
	if o.HTTP != nil {
		peers := o.Peers
		if len(peers) == 0 {
			peers = []string{o.Meta.APIAddr}
		}
		if m.api, err = client.Dial(peers, client.Options{Logger: o.Meta.Logger}); err != nil {
			m.Close()
			return nil, err
		}
		mux := http.NewServeMux()
		mux.Handle("/v1/", httpapi.New(m.api, httpapi.Options{Logger: o.Meta.Logger}))
		healthStatus(mux, reg, srv.ReadyStatus)
		m.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := m.http.Serve(o.HTTP); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Meta.Logger.Error("metadata HTTP server stopped", "err", err)
			}
		}()
	}
	return m, nil
}

// healthStatus adds /healthz (the process runs), /readyz (200 "ok", or
// 503 "not ready: <why>") and /metrics.
func healthStatus(mux *http.ServeMux, reg *prometheus.Registry, ready func() (bool, string)) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := ready(); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Close stops serving and closes the peer, without handing over
// leadership (as a crash would, but cleanly). In-flight RPCs get a few
// seconds to finish.
func (m *Meta) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.stopServing(ctx)
	if m.api != nil {
		m.api.Close()
	}
	return m.Server.Close()
}

// Shutdown stops the peer for a planned stop (SIGTERM): readiness fails at
// once, a leader hands leadership to another peer (bounded by a few
// election timeouts; if that fails the others elect one after their
// timeout), then gRPC and HTTP stop accepting and finish in-flight
// requests until ctx ends (what is still running then is cut), and Raft
// and the state close.
func (m *Meta) Shutdown(ctx context.Context) error {
	m.Server.BeginShutdown()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if err := m.Server.TransferLeadership(tctx); err != nil {
		m.log.Warn("stopping without handing over leadership; the other peers elect a leader after their election timeout", "err", err)
	}
	cancel()
	m.stopServing(ctx)
	if m.api != nil {
		m.api.Close()
	}
	return m.Server.Close()
}

// stopServing stops the HTTP server, then the gRPC server (REST requests
// in flight may still need it), letting in-flight requests finish until
// ctx ends.
func (m *Meta) stopServing(ctx context.Context) {
	if m.http != nil && m.http.Shutdown(ctx) != nil {
		m.http.Close()
	}
	stopped := make(chan struct{})
	go func() { m.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		m.grpc.Stop()
	}
	<-m.done
}

// NodeOptions configure a data node process.
type NodeOptions struct {
	Node     node.Config
	Listener net.Listener // the data port
}

// Node is a running data node.
type Node struct {
	Node *node.Node
	http *http.Server
	log  *slog.Logger
	done chan struct{}
}

// StartNode starts a data node serving on the listener.
func StartNode(o NodeOptions) (*Node, error) {
	if o.Node.Advertise == "" {
		o.Node.Advertise = o.Listener.Addr().String()
	}
	if o.Node.Logger == nil {
		o.Node.Logger = slog.Default()
	}
	n, err := node.New(o.Node)
	if err != nil {
		return nil, err
	}
	s := &Node{Node: n, log: o.Node.Logger, done: make(chan struct{})}
	s.http = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(o.Listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Node.Logger.Error("data port stopped", "err", err)
		}
	}()
	n.Start(context.Background())
	return s, nil
}

// Kill drops the data port at once, cutting in-flight transfers as a crash
// would, then closes the store (what was fsynced stays; nothing else is
// acknowledged).
func (s *Node) Kill() error {
	s.http.Close()
	<-s.done
	return s.Node.Close()
}

// Shutdown stops the node for a planned stop (SIGTERM): readiness fails
// and the metadata leader is told the node is leaving (bounded to a few
// seconds; if the leader cannot be reached the node stops anyway and is
// seen as suspect), then the data port stops accepting and in-flight
// requests finish until ctx ends (what still runs then is cut), and the
// store closes. Clients whose requests are refused retry on other
// replicas.
func (s *Node) Shutdown(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := s.Node.Leave(lctx); err != nil {
		s.log.Warn("stopping without telling the metadata leader", "err", err)
	}
	cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
	}
	<-s.done
	return s.Node.Close()
}

// Close stops accepting, lets in-flight requests finish (bounded), and
// closes the store.
func (s *Node) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
	}
	<-s.done
	return s.Node.Close()
}
