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
	m := &Meta{Server: srv, done: make(chan struct{})}
	m.grpc = grpc.NewServer(grpc.MaxRecvMsgSize(metarpc.MaxMessageSize), grpc.MaxSendMsgSize(metarpc.MaxMessageSize))
	meta.NewService(srv).Register(m.grpc)
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
		health(mux, reg, srv.Ready)
		m.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := m.http.Serve(o.HTTP); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Meta.Logger.Error("metadata HTTP server stopped", "err", err)
			}
		}()
	}
	return m, nil
}

// health adds /healthz (the process runs), /readyz (ready(), else 503)
// and /metrics.
func health(mux *http.ServeMux, reg *prometheus.Registry, ready func() bool) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Close stops serving and closes the peer. In-flight RPCs get a few
// seconds to finish.
func (m *Meta) Close() error {
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.http.Shutdown(ctx)
		cancel()
	}
	stopped := make(chan struct{})
	go func() { m.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		m.grpc.Stop()
	}
	<-m.done
	if m.api != nil {
		m.api.Close()
	}
	return m.Server.Close()
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
	s := &Node{Node: n, done: make(chan struct{})}
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
