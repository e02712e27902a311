package meta

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/meta/keyring"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/pki"
)

// Peer is one member of the initial Raft configuration.
type Peer struct {
	ID       string
	RaftAddr string
}

// ParsePeers parses "id=host:port,id=host:port".
func ParsePeers(s string) ([]Peer, error) {
	var out []Peer
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		id, addr, ok := strings.Cut(p, "=")
		if !ok || id == "" || addr == "" {
			return nil, cairn.E("meta.peers", cairn.Invalid, fmt.Errorf("peer %q: want id=host:raftport", p))
		}
		out = append(out, Peer{ID: id, RaftAddr: addr})
	}
	return out, nil
}

// Config configures a metadata peer. Build it with DefaultConfig and
// override fields; New validates it.
type Config struct {
	ID  string // Raft server ID, stable for the life of the peer
	Dir string // holds the Raft log, snapshots and the Pebble state

	RaftBind      string       // listen address for Raft traffic (unless RaftListener is set)
	RaftListener  net.Listener // optional: an open listener for Raft traffic
	RaftAdvertise string       // address other peers dial; default the listener's
	RaftDial      Dialer       // optional: how to reach other peers; default TCP
	APIAddr       string       // this peer's gRPC address as clients reach it (for leader hints)

	// TLS is the peer's certificate directory: Raft traffic, the calls it
	// makes to other peers and to data nodes are mutual TLS, and only
	// identities with the meta role may speak Raft to it. Nil runs
	// without TLS (--insecure).
	TLS *pki.Source
	// Secrets seals the S3 secrets the peer stores (meta/secrets); every
	// peer needs the same key. Nil stores new secrets in clear.
	Secrets *secrets.Sealer

	// Peers is the initial cluster. A peer with no Raft state bootstraps
	// with it if its own ID is among them; a peer that already has state
	// ignores it. Empty means a single-peer cluster of just this peer.
	Peers []Peer
	// Join makes a peer without Raft state start empty and wait until the
	// leader adds it (AddPeer, `cairn meta add-peer`) instead of
	// bootstrapping. A peer whose ID is not among Peers joins too. A
	// joining peer never elects itself.
	Join bool

	HeartbeatTimeout time.Duration // Raft: follower waits this long before campaigning
	ElectionTimeout  time.Duration
	LeaderLease      time.Duration
	SnapshotInterval time.Duration
	SnapshotEntries  uint64 // entries between snapshots

	NodeSuspectAfter time.Duration // a data node with no heartbeat this long is suspect
	NodeDeadAfter    time.Duration // ... and dead after this long

	DefaultReplication int // replicas for new chunks when the client names none

	// Self-healing, run by the leader.
	RepairInterval    time.Duration // between repair scans; default 10s
	RepairConcurrency int           // chunk copies in flight cluster-wide; default 4
	RepairBytesPerSec int64         // cluster-wide repair bandwidth; 0 = unlimited
	GCInterval        time.Duration // between garbage collection rounds; default 10s
	GCGrace           time.Duration // a released chunk is deleted after this long; default 5m
	// MaxWriteAge bounds the time from chunk allocation to commit (or to
	// landing in an upload session); older chunks are refused, and
	// unreferenced chunks older than this are orphans a node may delete.
	MaxWriteAge time.Duration // default 1h
	// UploadExpiry is how long an upload session may stay open (its client
	// may resume it until then); older sessions are aborted and their chunks
	// collected. Default 7 days.
	UploadExpiry time.Duration

	// Capability tokens for data nodes (secured clusters only; see
	// meta/keyring): the leader signs them with a key it replaces every
	// KeyRotation, and each is valid for TokenLifetime.
	KeyRotation   time.Duration // default 24h
	TokenLifetime time.Duration // default 1h

	// Now is the clock of failure detection and self-healing (heartbeat
	// ages, grace periods, expiry); default time.Now.
	Now func() time.Time

	Logger   *slog.Logger
	RaftLog  io.Writer             // Raft library's own log output; default discard
	Registry prometheus.Registerer // metrics go here; nil = not exported
}

// DefaultConfig returns production defaults.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLease:        500 * time.Millisecond,
		SnapshotInterval:   2 * time.Minute,
		SnapshotEntries:    16384,
		NodeSuspectAfter:   10 * time.Second,
		NodeDeadAfter:      45 * time.Second,
		DefaultReplication: 3,
		RepairInterval:     10 * time.Second,
		RepairConcurrency:  4,
		RepairBytesPerSec:  200 << 20,
		GCInterval:         10 * time.Second,
		GCGrace:            5 * time.Minute,
		MaxWriteAge:        time.Hour,
		UploadExpiry:       7 * 24 * time.Hour,
		KeyRotation:        keyring.DefaultRotateEvery,
		TokenLifetime:      keyring.DefaultTokenLifetime,
	}
}

// Bootstraps reports whether a peer without Raft state founds the cluster
// (it is one of the initial peers and not told to join) rather than
// waiting to be added.
func (c *Config) Bootstraps() bool {
	if c.Join {
		return false
	}
	if len(c.Peers) == 0 {
		return true
	}
	for _, p := range c.Peers {
		if p.ID == c.ID {
			return true
		}
	}
	return false
}

// Validate checks the configuration and fills defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, errors.New("meta: ID is empty"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("meta: Dir is empty"))
	}
	if c.RaftBind == "" && c.RaftListener == nil {
		errs = append(errs, errors.New("meta: RaftBind is empty"))
	}
	if c.RaftAdvertise == "" {
		c.RaftAdvertise = c.RaftBind
		if c.RaftListener != nil {
			c.RaftAdvertise = c.RaftListener.Addr().String()
		}
	}
	if c.RaftDial == nil {
		c.RaftDial = defaultDial
	}
	if c.DefaultReplication < 1 {
		errs = append(errs, fmt.Errorf("meta: replication %d must be at least 1", c.DefaultReplication))
	}
	if c.NodeDeadAfter <= c.NodeSuspectAfter {
		errs = append(errs, fmt.Errorf("meta: node dead timeout %v must exceed suspect timeout %v", c.NodeDeadAfter, c.NodeSuspectAfter))
	}
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("meta: peer ID %q appears twice among the initial peers", p.ID))
		}
		seen[p.ID] = true
	}
	def := DefaultConfig()
	if c.RepairInterval <= 0 {
		c.RepairInterval = def.RepairInterval
	}
	if c.UploadExpiry <= 0 {
		c.UploadExpiry = def.UploadExpiry
	}
	if c.MaxWriteAge <= 0 {
		c.MaxWriteAge = def.MaxWriteAge
	}
	if c.GCInterval <= 0 {
		c.GCInterval = def.GCInterval
	}
	if c.KeyRotation <= 0 {
		c.KeyRotation = def.KeyRotation
	}
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = def.TokenLifetime
	}
	if c.RepairConcurrency <= 0 {
		c.RepairConcurrency = def.RepairConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RaftLog == nil {
		c.RaftLog = io.Discard
	}
	if len(errs) > 0 {
		return cairn.E("meta.config", cairn.Invalid, errors.Join(errs...))
	}
	return nil
}
