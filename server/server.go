// Package server wires Cairn's roles into running processes: a metadata
// peer with its gRPC API and HTTP endpoints (Meta), a data node with its
// data port (Node), an S3 gateway (Gateway), or all three in one process
// (Server, `cairn server`). The command line and the in-process test
// cluster both run roles through here.
//
// Every role has the same lifecycle, modelled on etcd's embed package:
//
//   - NewX(cfg) validates cfg and fills in its defaults once; X.Config
//     returns the result. New starts nothing: no goroutine runs, no
//     listener is opened, nothing on disk is touched.
//   - Start(ctx) opens the role's state, listens (on the listeners given
//     in its config, else on its configured addresses) and serves; it
//     returns once the role serves, or with an error, after which the
//     role has released what it opened and is stopped. ctx bounds the
//     start only, not the role's life.
//   - Ready() is closed once the role is ready to serve clients (see each
//     role for what that means); it never closes for a role that stops
//     first.
//   - Shutdown(ctx) stops the role gracefully, waits for every goroutine
//     it started, and is idempotent (later calls return the first call's
//     result). Start after Shutdown fails. Shutdown of a role that was
//     never started only marks it stopped.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/pki"
)

// Role is the lifecycle every server role shares (see the package
// comment). Meta, Node, Gateway and Server implement it.
type Role interface {
	Start(ctx context.Context) error
	Ready() <-chan struct{}
	Shutdown(ctx context.Context) error
}

// readyPoll is how often a role checks whether it became ready.
const readyPoll = 20 * time.Millisecond

type lifeState int

const (
	created lifeState = iota
	running
	stopped
)

// life is the lifecycle state every role shares: whether it runs, its
// ready channel, and the goroutines it started.
type life struct {
	role string // for error messages: "metadata peer", "data node", ...

	mu    sync.Mutex // held by Start for its whole run, so Shutdown waits for it
	state lifeState

	ready     chan struct{}
	stop      chan struct{} // closed when stopping begins
	wg        sync.WaitGroup
	readyOnce sync.Once
	stopOnce  sync.Once
	stopErr   error
}

func (l *life) init(role string) {
	l.role, l.ready, l.stop = role, make(chan struct{}), make(chan struct{})
}

// begin locks the lifecycle for Start and checks that the role may start.
// The caller unlocks l.mu when Start returns.
func (l *life) begin() error {
	l.mu.Lock()
	switch l.state {
	case running:
		l.mu.Unlock()
		return cairn.E("server.start", cairn.Invalid, fmt.Errorf("the %s is already started", l.role))
	case stopped:
		l.mu.Unlock()
		return cairn.E("server.start", cairn.Invalid, fmt.Errorf("the %s was shut down and cannot start again; make a new one", l.role))
	}
	l.state = running
	return nil
}

// end stops the role once: it closes l.stop, runs halt when the role was
// started, and waits for every goroutine the role started. Every later
// call returns the first call's result.
func (l *life) end(halt func() error) error {
	l.mu.Lock() // waits for a Start in progress
	wasRunning := l.state == running
	l.state = stopped
	l.mu.Unlock()
	l.stopOnce.Do(func() {
		close(l.stop)
		if wasRunning {
			l.stopErr = halt()
		}
		l.wg.Wait()
	})
	return l.stopErr
}

// start runs a role's Start: it checks that the role may start, runs
// open under the lifecycle lock and, if open fails, runs halt to release
// what open opened and leaves the role stopped.
func (l *life) start(ctx context.Context, open func(context.Context) error, halt func() error) error {
	if err := l.begin(); err != nil {
		return err
	}
	defer l.mu.Unlock()
	if err := open(ctx); err != nil {
		return l.failStart(err, halt)
	}
	return nil
}

// failStart undoes a Start that failed half-way: halt releases what was
// opened, and the role counts as stopped (a later Shutdown returns nil).
// Called with l.mu held; it returns err.
func (l *life) failStart(err error, halt func() error) error {
	l.state = stopped
	l.stopOnce.Do(func() {
		close(l.stop)
		_ = halt()
		l.wg.Wait()
	})
	return err
}

// run starts f in a goroutine that end waits for.
func (l *life) run(f func()) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
}

// markReady closes the ready channel (once).
func (l *life) markReady() { l.readyOnce.Do(func() { close(l.ready) }) }

// watchReady closes the ready channel as soon as isReady reports true,
// checking every readyPoll until the role stops.
func (l *life) watchReady(isReady func() bool) {
	l.run(func() {
		t := time.NewTicker(readyPoll)
		defer t.Stop()
		for {
			if isReady() {
				l.markReady()
				return
			}
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
		}
	})
}

// ListenError is returned by Start when a role cannot listen on one of
// its addresses.
type ListenError struct {
	Port string // which port: "grpc", "http", "raft", "data" or "s3"
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("cannot listen on %s (%s port): %v", e.Addr, e.Port, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// listen returns l when it is set, else listens on addr. A port still held
// for a moment (a restarted process) is retried for up to 5 s while ctx
// lasts.
func listen(ctx context.Context, l net.Listener, port, addr string) (net.Listener, error) {
	if l != nil {
		return l, nil
	}
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		select {
		case <-ctx.Done():
			return nil, &ListenError{Port: port, Addr: addr, Err: errors.Join(err, ctx.Err())}
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil, &ListenError{Port: port, Addr: addr, Err: err}
}

// actualPort returns adv with port 0 replaced by the port l listens on
// (a role told to listen on a random port advertises the one it got), and
// l's address when adv is empty.
func actualPort(adv string, l net.Listener) string {
	if adv == "" {
		return l.Addr().String()
	}
	if host, port, err := net.SplitHostPort(adv); err == nil && port == "0" {
		if _, actual, err := net.SplitHostPort(l.Addr().String()); err == nil {
			return net.JoinHostPort(host, actual)
		}
	}
	return adv
}

// newRegistry returns a metrics registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// healthStatus adds /healthz (the process runs), /readyz (200 "ok", or
// 503 "not ready: <why>"), /metrics and, if pprof is set, /debug/pprof/
// (for admins only on a secured port: src is its TLS source).
func healthStatus(mux *http.ServeMux, reg *prometheus.Registry, ready func() (bool, string), withPprof bool, src *pki.Source) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if ok, why := ready(); !ok {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if !withPprof {
		return
	}
	mux.Handle("/debug/pprof/", requireRoles(src, http.HandlerFunc(pprof.Index), pki.Admin))
	mux.Handle("/debug/pprof/profile", requireRoles(src, http.HandlerFunc(pprof.Profile), pki.Admin))
	mux.Handle("/debug/pprof/trace", requireRoles(src, http.HandlerFunc(pprof.Trace), pki.Admin))
}

// stopHTTP lets in-flight requests of srv finish until ctx ends, then cuts
// what still runs.
func stopHTTP(ctx context.Context, srv *http.Server) {
	if srv != nil && srv.Shutdown(ctx) != nil {
		srv.Close()
	}
}
