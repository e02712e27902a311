package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/heal"
	"github.com/cairnfs/cairn/meta/keyring"
	"github.com/cairnfs/cairn/meta/registry"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/meta/state"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Server is one metadata peer: the Raft node with the state machine
// (meta/state), the data-node registry (meta/registry) and the healer
// (meta/heal). Its parts are reached through Proposer (writes and the
// leader gate), Members (the Raft configuration), State, Registry and
// Healer; package meta/grpcapi is its gRPC front end.
type Server struct {
	cfg      Config
	st       *state.Machine
	fsm      *fsm
	raft     *raft.Raft
	trans    *raft.NetworkTransport
	logs     *raftboltdb.BoltStore
	reg      *registry.Registry
	prop     *Proposer
	members  *Members
	met      *metrics
	heal     *heal.Healer
	transfer heal.HTTPTransfer
	keys     *keyring.Keyring // nil without TLS

	notify chan bool
	stop   chan struct{}
	ctx    context.Context // ends at Close, cutting off background work in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lifeMu   sync.Mutex
	started  atomic.Bool // Start succeeded: Close has something to close
	closed   bool
	closeErr error

	stopping atomic.Bool // a planned shutdown began: not ready
}

// New validates cfg and fills in its defaults (Config returns the
// result). It starts nothing: no goroutine runs, nothing is opened or
// listened on until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, notify: make(chan bool, 16), stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start opens the peer's state (creating its directory), listens for
// Raft traffic unless cfg.RaftListener is set, starts its Raft node and
// its background loops, and returns. It bootstraps the cluster from
// cfg.Peers when the directory holds no Raft state yet. It fails when the
// peer was started before or closed; a failed Start releases what it
// opened and leaves the peer closed.
func (s *Server) Start(ctx context.Context) error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch {
	case s.closed:
		return cairn.E("meta.start", cairn.Invalid, errors.New("the metadata peer was closed; make a new one with New"))
	case s.started.Load():
		return cairn.E("meta.start", cairn.Invalid, errors.New("the metadata peer is already started"))
	}
	if err := s.open(ctx); err != nil {
		s.closed, s.closeErr = true, err
		close(s.stop)
		s.cancel()
		return err
	}
	s.started.Store(true)
	s.wg.Add(3)
	go s.watchLeadership()
	go s.maintain()
	go s.members.loop()
	if s.keys != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.keys.Run(s.ctx)
		}()
	}
	return nil
}

// open opens the state, starts Raft and builds the parts that use it; on
// error it closes what it opened.
func (s *Server) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return cairn.E("meta.start", err)
	}
	cfg := s.cfg
	if tightened, err := pki.PrivateDir(cfg.Dir); err != nil {
		return cairn.E("meta.start", cairn.Internal, err)
	} else if tightened {
		cfg.Logger.Warn("the metadata folder was readable by other users; made it private (0700)", "dir", cfg.Dir)
	}
	s.reg = registry.New(registry.Config{SuspectAfter: cfg.NodeSuspectAfter, DeadAfter: cfg.NodeDeadAfter, Now: cfg.Now, Logger: cfg.Logger})
	s.met = newMetrics(cfg.Registry, s)
	var err error
	if s.st, err = state.Open(filepath.Join(cfg.Dir, "state"), cfg.Logger); err != nil {
		return err
	}
	s.fsm = &fsm{st: s.st, nodesChanged: s.reloadRegistry}
	if err := s.loadRegistry(); err != nil {
		s.st.Close()
		return err
	}
	if err := s.startRaft(); err != nil {
		s.st.Close()
		return err
	}
	s.prop = &Proposer{raft: s.raft, st: s.st, met: s.met, check: newLeaderCheck(s.raft, s.stop), stop: s.stop}
	s.members = &Members{s: s}
	s.members.peers.tls = cfg.TLS
	s.transfer = heal.HTTPTransfer{Scheme: pki.Scheme(cfg.TLS),
		Client: &http.Client{Timeout: 5 * time.Minute, Transport: cfg.TLS.Transport(http.DefaultTransport.(*http.Transport).Clone())}}
	s.heal = heal.New(heal.Config{DefaultReplication: cfg.DefaultReplication, RepairInterval: cfg.RepairInterval,
		RepairConcurrency: cfg.RepairConcurrency, RepairBytesPerSec: cfg.RepairBytesPerSec, GCInterval: cfg.GCInterval,
		GCGrace: cfg.GCGrace, MaxWriteAge: cfg.MaxWriteAge, UploadExpiry: cfg.UploadExpiry, Logger: cfg.Logger, Now: cfg.Now},
		heal.Deps{Proposer: s.prop, Leader: s.prop, Nodes: s.reg, State: s.st, Transfer: s.transfer})
	if cfg.TLS != nil {
		// A node that has not heartbeated for NodeSuspectAfter is suspect:
		// by then every live node has learned a new key.
		s.keys = keyring.New(keyring.Config{RotateEvery: cfg.KeyRotation, TokenLifetime: cfg.TokenLifetime, PublishDelay: cfg.NodeSuspectAfter, Logger: cfg.Logger},
			keyring.Deps{Proposer: s.prop, Leader: s, State: s.st, Sealer: keySealer(cfg.Secrets)})
	}
	return nil
}

func (s *Server) startRaft() error {
	cfg := s.cfg
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: cfg.RaftLog})
	var err error
	s.logs, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db")})
	if err != nil {
		return cairn.E("meta.raft", cairn.Internal, fmt.Errorf("opening the Raft log: %w", err))
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, hlog)
	if err != nil {
		s.logs.Close()
		return cairn.E("meta.raft", cairn.Internal, err)
	}
	if err := s.catchUpFromSnapshot(snaps); err != nil {
		s.logs.Close()
		return err
	}
	if err := checkHostPort("Raft advertise address", cfg.RaftAdvertise); err != nil {
		s.logs.Close()
		return err
	}
	adv := advertiseAddr(cfg.RaftAdvertise)
	lis := cfg.RaftListener
	if lis == nil {
		if lis, err = net.Listen("tcp", cfg.RaftBind); err != nil {
			s.logs.Close()
			return cairn.E("meta.raft", cairn.Unavailable, fmt.Errorf("listening for Raft on %s: %w", cfg.RaftBind, err))
		}
	}
	var stream raft.StreamLayer = &streamLayer{Listener: lis, advertise: adv, dial: cfg.RaftDial}
	if cfg.TLS != nil {
		stream = &tlsStream{streamLayer: stream.(*streamLayer), src: cfg.TLS}
	}
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog})
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLease
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.SnapshotThreshold = cfg.SnapshotEntries
	rc.TrailingLogs = cfg.SnapshotEntries
	rc.MaxAppendEntries = 512
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = true
	rc.NotifyCh = s.notify
	hasState, err := raft.HasExistingState(s.logs, s.logs, snaps)
	if err != nil {
		return cairn.E("meta.raft", cairn.Internal, err)
	}
	if !hasState && !cfg.Bootstraps() {
		cfg.Logger.Info("this metadata peer has no state and is not one of the initial peers: waiting to be added (run `cairn meta add-peer` on the cluster)",
			"id", cfg.ID, "raft", cfg.RaftAdvertise, "api", cfg.APIAddr)
	}
	if !hasState && cfg.Bootstraps() {
		peers := cfg.Peers
		if len(peers) == 0 {
			peers = []Peer{{ID: cfg.ID, RaftAddr: cfg.RaftAdvertise}}
		}
		var conf raft.Configuration
		for _, p := range peers {
			conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr), Suffrage: raft.Voter})
		}
		if err := raft.BootstrapCluster(rc, s.logs, s.logs, snaps, s.trans, conf); err != nil {
			return cairn.E("meta.raft", cairn.Internal, fmt.Errorf("bootstrapping: %w", err))
		}
		cfg.Logger.Info("bootstrapped new metadata cluster", "peers", len(peers))
	}
	s.raft, err = raft.NewRaft(rc, s.fsm, s.logs, s.logs, snaps, s.trans)
	if err != nil {
		s.trans.Close()
		s.logs.Close()
		return cairn.E("meta.raft", cairn.Internal, err)
	}
	return nil
}

// catchUpFromSnapshot restores the newest snapshot into Pebble when the
// database is behind it (it was lost or never written). Raft itself is told
// not to restore on start, because Pebble normally already holds the state.
func (s *Server) catchUpFromSnapshot(snaps raft.SnapshotStore) error {
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return err
	}
	if s.st.AppliedIndex() >= list[0].Index {
		return nil
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return cairn.E("meta.restore", cairn.Internal, err)
	}
	s.cfg.Logger.Warn("metadata database is behind the latest snapshot; restoring it", "applied", s.st.AppliedIndex(), "snapshot", list[0].Index)
	return s.fsm.Restore(rc)
}

// loadRegistry hands the registered data nodes to the registry.
func (s *Server) loadRegistry() error {
	recs, err := s.st.Latest().Nodes()
	if err != nil {
		return err
	}
	s.reg.Load(recs)
	return nil
}

// reloadRegistry runs after data nodes registered or drained (and after a
// restore).
func (s *Server) reloadRegistry() {
	if err := s.loadRegistry(); err != nil {
		s.cfg.Logger.Error("reloading the node registry", "err", err)
	}
}

// watchLeadership marks the peer ready to serve linearizable reads once, as
// a new leader, it has applied an entry of its own term (which makes every
// earlier entry applied), records its API address for leader hints and,
// on a secured cluster, makes sure a token signing key exists.
func (s *Server) watchLeadership() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case isLeader := <-s.notify:
			s.prop.ready.Store(false)
			if !isLeader {
				continue
			}
			s.reg.ResetClocks()
			s.heal.Reset()
			info := &pb.PeerInfo{Id: s.cfg.ID, ApiAddr: s.cfg.APIAddr}
			for s.raft.State() == raft.Leader {
				_, err := s.prop.Propose(context.Background(), &pb.Command{Op: &pb.Command_PeerInfo{PeerInfo: info}})
				if err == nil && s.keys != nil {
					err = s.keys.Ensure(s.ctx)
				}
				if err == nil {
					s.prop.ready.Store(true)
					s.cfg.Logger.Info("this metadata peer is the leader", "id", s.cfg.ID)
					break
				}
				select {
				case <-s.stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	}
}

// maintain runs the healer's rounds until the peer stops.
func (s *Server) maintain() {
	defer s.wg.Done()
	s.heal.Run(s.ctx)
}

// IsLeader reports whether this peer leads and has caught up (never
// before Start).
func (s *Server) IsLeader() bool { return s.started.Load() && s.prop.IsLeader() }

// Ready reports whether the peer can serve (see ReadyStatus).
func (s *Server) Ready() bool {
	ok, _ := s.ReadyStatus()
	return ok
}

// AppliedIndex is the last Raft index the state machine has applied (what
// a stale read on this peer reflects).
func (s *Server) AppliedIndex() uint64 { return s.st.AppliedIndex() }

// Raft exposes the Raft node (for tests and status).
func (s *Server) Raft() *raft.Raft { return s.raft }

// ID returns this peer's Raft server ID.
func (s *Server) ID() string { return s.cfg.ID }

// Config returns the peer's configuration, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// State is the peer's state machine, for reads.
func (s *Server) State() *state.Machine { return s.st }

// Registry is the peer's directory of data nodes.
func (s *Server) Registry() *registry.Registry { return s.reg }

// Healer runs repair, rebalancing and garbage collection while this peer
// leads.
func (s *Server) Healer() *heal.Healer { return s.heal }

// Keyring keeps the token signing keys and mints tokens; nil when the
// peer runs without TLS (then nothing is minted).
func (s *Server) Keyring() *keyring.Keyring { return s.keys }

// Proposer proposes commands and gates leader-only work.
func (s *Server) Proposer() *Proposer { return s.prop }

// Members changes and describes the Raft configuration.
func (s *Server) Members() *Members { return s.members }

// Close stops the peer: Raft shuts down (without transferring leadership)
// and the database closes. It waits for every goroutine it started. It
// is idempotent: later calls return the first call's result. Closing a
// peer that was never started only marks it closed.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	close(s.stop)
	s.cancel()
	if !s.started.Load() {
		return nil
	}
	err := s.raft.Shutdown().Error()
	s.prop.check.close()
	s.wg.Wait()
	s.transfer.Client.CloseIdleConnections() // repair connections and their goroutines
	s.members.peers.close()
	s.trans.Close()
	if cerr := s.logs.Close(); err == nil {
		err = cerr
	}
	if cerr := s.st.Close(); err == nil {
		err = cerr
	}
	s.closeErr = err
	return err
}

// keySealer seals the token signing keys with the secrets key, if the
// peer has one.
func keySealer(s *secrets.Sealer) keyring.Sealer {
	if s == nil {
		return nil
	}
	return secrets.Keys{S: s}
}
