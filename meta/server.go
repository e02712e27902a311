package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/metarpc"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Server is one metadata peer: the Raft node, the state machine and the
// registry. Service (service.go) is its gRPC front end.
type Server struct {
	cfg    Config
	fsm    *FSM
	raft   *raft.Raft
	trans  *raft.NetworkTransport
	logs   *raftboltdb.BoltStore
	reg    *registry
	check  *leaderCheck
	met    *metrics
	repair *repairer

	leaderReady atomic.Bool
	notify      chan bool
	stop        chan struct{}
	ctx         context.Context // ends at Close, cutting off background work in flight
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	lifeMu   sync.Mutex
	started  atomic.Bool // Start succeeded: Close has something to close
	closed   bool
	closeErr error

	stopping atomic.Bool                // a planned shutdown began: not ready
	view     atomic.Pointer[leaderView] // the leader's last answer to this follower's poll
	memberMu sync.Mutex                 // one membership change at a time
	peers    peerDialer                 // gRPC connections to other peers
}

// New validates cfg and fills in its defaults (Config returns the
// result). It starts nothing: no goroutine runs, nothing is opened or
// listened on until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, reg: newRegistry(cfg.NodeSuspectAfter, cfg.NodeDeadAfter), notify: make(chan bool, 16), stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Config returns the peer's configuration with every default filled in.
func (s *Server) Config() Config { return s.cfg }

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
	go s.peerLoop()
	return nil
}

// open opens the state and starts Raft; on error it closes what it opened.
func (s *Server) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return cairn.E("meta.start", err)
	}
	if err := os.MkdirAll(s.cfg.Dir, 0o755); err != nil {
		return cairn.E("meta.start", cairn.Internal, err)
	}
	s.met = newMetrics(s.cfg.Registry, s)
	var err error
	if s.fsm, err = OpenFSM(filepath.Join(s.cfg.Dir, "state"), s.cfg.Logger); err != nil {
		return err
	}
	s.fsm.OnApply = s.onApply
	if err := s.reg.reload(s.fsm.db); err != nil {
		s.fsm.Close()
		return err
	}
	if err := s.startRaft(); err != nil {
		s.fsm.Close()
		return err
	}
	s.check = newLeaderCheck(s.raft)
	s.repair = newRepairer(s)
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
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: &streamLayer{Listener: lis, advertise: adv, dial: cfg.RaftDial}, MaxPool: 4, Timeout: 10 * time.Second, Logger: hlog})
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
	if s.fsm.AppliedIndex() >= list[0].Index {
		return nil
	}
	_, rc, err := snaps.Open(list[0].ID)
	if err != nil {
		return cairn.E("meta.restore", cairn.Internal, err)
	}
	s.cfg.Logger.Warn("metadata database is behind the latest snapshot; restoring it", "applied", s.fsm.AppliedIndex(), "snapshot", list[0].Index)
	return s.fsm.Restore(rc)
}

func (s *Server) onApply(cmds []*pb.Command) {
	if cmds == nil {
		s.reloadRegistry()
		return
	}
	for _, c := range cmds {
		switch c.Op.(type) {
		case *pb.Command_RegisterNode, *pb.Command_Drain:
			s.reloadRegistry()
			return
		}
	}
}

func (s *Server) reloadRegistry() {
	if err := s.reg.reload(s.fsm.db); err != nil {
		s.cfg.Logger.Error("reloading the node registry", "err", err)
	}
}

// watchLeadership marks the peer ready to serve linearizable reads once, as
// a new leader, it has applied an entry of its own term (which makes every
// earlier entry applied), and records its API address for leader hints.
func (s *Server) watchLeadership() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case isLeader := <-s.notify:
			s.leaderReady.Store(false)
			if !isLeader {
				continue
			}
			s.reg.resetClocks()
			s.repair.reset()
			info := &pb.PeerInfo{Id: s.cfg.ID, ApiAddr: s.cfg.APIAddr}
			for s.raft.State() == raft.Leader {
				_, err := s.propose(context.Background(), &pb.Command{Op: &pb.Command_PeerInfo{PeerInfo: info}})
				if err == nil {
					s.leaderReady.Store(true)
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

// propose replicates cmd through Raft and returns its result once applied
// here. NotLeader means it was not accepted; after ErrLeadershipLost the
// outcome is unknown (the entry may still commit), reported as Unavailable.
func (s *Server) propose(ctx context.Context, cmd *pb.Command) (proto.Message, error) {
	cmd.NowNs = time.Now().UnixNano()
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, cairn.E("meta.propose", cairn.Internal, err)
	}
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	res, err := s.apply(ctx, data, timeout)
	s.met.observe(start, err)
	return res, err
}

// apply hands data to Raft and waits for its result, the caller's context,
// or shutdown. (A future whose entry was queued when Raft shut down is
// never answered, so waiting on it alone could block forever.)
func (s *Server) apply(ctx context.Context, data []byte, timeout time.Duration) (proto.Message, error) {
	f := s.raft.Apply(data, timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return nil, metarpc.Retryable(cairn.E("meta.propose", cairn.Unavailable, fmt.Errorf("gave up waiting for the commit; the change may or may not have applied: %w", ctx.Err())))
	case <-s.stop:
		return nil, metarpc.Retryable(cairn.E("meta.propose", cairn.Unavailable, errors.New("metadata peer is shutting down; the change may or may not have applied")))
	}
	if err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader):
			return nil, s.notLeader()
		case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, metarpc.Retryable(cairn.E("meta.propose", cairn.Unavailable, fmt.Errorf("leadership lost while committing; the change may or may not have applied: %w", err)))
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, metarpc.Retryable(cairn.E("meta.propose", cairn.Unavailable, err))
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, metarpc.Retryable(cairn.E("meta.propose", cairn.Unavailable, errors.New("metadata peer is shutting down")))
		}
		return nil, cairn.E("meta.propose", cairn.Internal, err)
	}
	res, ok := f.Response().(Result)
	if !ok {
		return nil, cairn.E("meta.propose", cairn.Internal, fmt.Errorf("unexpected apply response %T", f.Response()))
	}
	return res.Resp, res.Err
}

// IsLeader reports whether this peer leads and has caught up (never
// before Start).
func (s *Server) IsLeader() bool { return s.leaderReady.Load() && s.raft.State() == raft.Leader }

// Ready reports whether the peer can serve (see ReadyStatus).
func (s *Server) Ready() bool {
	ok, _ := s.ReadyStatus()
	return ok
}

// AppliedIndex is the last Raft index the state machine has applied (what
// a stale read on this peer reflects).
func (s *Server) AppliedIndex() uint64 { return s.fsm.AppliedIndex() }

// Raft exposes the Raft node (for tests and status).
func (s *Server) Raft() *raft.Raft { return s.raft }

// ID returns this peer's Raft server ID.
func (s *Server) ID() string { return s.cfg.ID }

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
	s.check.close()
	s.wg.Wait()
	s.repair.http.CloseIdleConnections() // repair connections and their goroutines
	s.peers.close()
	s.trans.Close()
	if cerr := s.logs.Close(); err == nil {
		err = cerr
	}
	if cerr := s.fsm.Close(); err == nil {
		err = cerr
	}
	s.closeErr = err
	return err
}
