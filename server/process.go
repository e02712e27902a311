package server

import (
	"context"
	"errors"
	"net"
)

// Config configures the single-process server (`cairn server`): one
// metadata peer, one data node and, optionally, an S3 gateway.
type Config struct {
	Meta    MetaConfig
	Node    NodeConfig
	Gateway *GatewayConfig // nil = no S3 gateway
}

// Server runs a metadata peer, a data node and an S3 gateway in one
// process. Ready closes once all of them are ready.
type Server struct {
	Meta    *Meta
	Node    *Node
	Gateway *Gateway // nil without a gateway

	life    life
	opened  []net.Listener // what listenAll opened, closed again if Start fails
	started int            // how many roles Start started
}

// New validates cfg and fills in its defaults. It starts nothing.
func New(cfg Config) (*Server, error) {
	s := &Server{}
	s.life.init("server")
	var err error
	if s.Meta, err = NewMeta(cfg.Meta); err != nil {
		return nil, err
	}
	if s.Node, err = NewNode(cfg.Node); err != nil {
		return nil, err
	}
	if cfg.Gateway != nil {
		if s.Gateway, err = NewGateway(*cfg.Gateway); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Config returns the effective configuration of every role.
func (s *Server) Config() Config {
	cfg := Config{Meta: s.Meta.Config(), Node: s.Node.Config()}
	if s.Gateway != nil {
		g := s.Gateway.Config()
		cfg.Gateway = &g
	}
	return cfg
}

// Ready is closed once the peer, the node and the gateway are ready.
func (s *Server) Ready() <-chan struct{} { return s.life.ready }

// roles are the roles in start order.
func (s *Server) roles() []Role {
	r := []Role{s.Meta, s.Node}
	if s.Gateway != nil {
		r = append(r, s.Gateway)
	}
	return r
}

// Start first listens on every port of every role, failing at once with a
// *ListenError if one is taken (no retry: a second `cairn server` on the
// same ports should hear so at once), then starts the metadata peer, the
// data node and the gateway, in that order.
func (s *Server) Start(ctx context.Context) error {
	return s.life.start(ctx, s.start, func() error {
		err := s.stopRoles(context.Background(), s.started)
		for _, l := range s.opened { // the listeners of roles that never started
			l.Close()
		}
		return err
	})
}

func (s *Server) start(ctx context.Context) error {
	if err := s.listenAll(); err != nil {
		return err
	}
	for _, r := range s.roles() {
		if err := r.Start(ctx); err != nil {
			return err
		}
		s.started++
	}
	s.life.run(func() {
		for _, r := range s.roles() {
			select {
			case <-r.Ready():
			case <-s.life.stop:
				return
			}
		}
		s.life.markReady()
	})
	return nil
}

// listenAll opens every listener the roles' configurations do not hand
// in, and hands them in. Called before any role starts.
func (s *Server) listenAll() error {
	type port struct {
		name string
		lis  *net.Listener
		addr string
	}
	s.Meta.mu.Lock()
	defer s.Meta.mu.Unlock()
	s.Node.mu.Lock()
	defer s.Node.mu.Unlock()
	m, n := &s.Meta.cfg, &s.Node.cfg
	ports := []port{{"grpc", &m.GRPC, m.GRPCAddr}, {"raft", &m.Meta.RaftListener, m.Meta.RaftBind}, {"data", &n.Listener, n.Addr}}
	if m.HTTPAddr != "" {
		ports = append(ports, port{"http", &m.HTTP, m.HTTPAddr})
	}
	if g := s.Gateway; g != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		ports = append(ports, port{"s3", &g.cfg.Listener, g.cfg.Addr})
	}
	for _, p := range ports {
		if *p.lis != nil {
			continue
		}
		l, err := net.Listen("tcp", p.addr)
		if err != nil {
			for _, o := range s.opened {
				o.Close()
			}
			return &ListenError{Port: p.name, Addr: p.addr, Err: err}
		}
		s.opened = append(s.opened, l)
		*p.lis = l
	}
	return nil
}

// Shutdown stops the gateway, then the data node (it tells the metadata
// peer it is leaving), then the metadata peer, each gracefully, within
// ctx. It waits for every goroutine Start started and is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.life.end(func() error { return s.stopRoles(ctx, len(s.roles())) })
}

// stopRoles shuts down the first n roles, the last started first.
func (s *Server) stopRoles(ctx context.Context, n int) error {
	var errs []error
	roles := s.roles()
	for i := n - 1; i >= 0; i-- {
		errs = append(errs, roles[i].Shutdown(ctx))
	}
	return errors.Join(errs...)
}
