// Package testcluster runs a whole Cairn cluster inside one test process:
// metadata peers and data nodes on loopback with random ports, with
// helpers to kill, restart and partition them and to corrupt stored chunks.
// Every network link between metadata peers goes through a Bridge that a
// test can cut.
//
// New starts metadata peers with Raft; NewInProcess starts a light
// cluster whose metadata service is meta/inprocess (no Raft), for the
// tests of what is built on the metadata API rather than of the metadata
// cluster itself.
package testcluster

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/faultnet"
	"github.com/cairnfs/cairn/internal/testclock"
	"github.com/cairnfs/cairn/meta"
	"github.com/cairnfs/cairn/meta/inprocess"
	"github.com/cairnfs/cairn/meta/keyring"
	"github.com/cairnfs/cairn/meta/secrets"
	"github.com/cairnfs/cairn/node"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/server"
	"github.com/cairnfs/cairn/volume"
)

// Options shape a cluster.
type Options struct {
	Metas       int   // metadata peers; default 1
	Nodes       int   // data nodes; default 1
	Replication int   // default min(3, Nodes)
	ChunkSize   int64 // client chunk size; default 1 MiB (tests want several chunks cheaply)
	Volume      volume.Options
	// ScrubBytesPerSec turns on the data nodes' scrubbers at this rate.
	ScrubBytesPerSec int64
	// SnapshotEntries, if set, makes metadata peers snapshot (and truncate
	// their logs) after this many entries, checked every 200ms.
	SnapshotEntries uint64
	// NodeDeadAfter, if set, replaces the 5 s after which a silent data
	// node is dead (and its chunks repaired).
	NodeDeadAfter time.Duration
	// UploadExpiry, if set, is how long upload sessions may stay open.
	UploadExpiry time.Duration
	// RepairBytesPerSec throttles the leader's repairs (default unlimited).
	RepairBytesPerSec int64
	// ZoneOf, if set, names data node i's zone (default "z<i%3>").
	ZoneOf func(i int) string
	// NodeDir, if set, chooses data node i's directory (e.g. on a small
	// tmpfs to fill the disk).
	NodeDir func(i int) string
	// NodeSeeds, if set, gives data nodes only the first NodeSeeds
	// metadata addresses (they learn the others from the cluster).
	NodeSeeds int
	// Calm keeps the production intervals of background work (repair and
	// rebalance scans, garbage collection, reconciliation) instead of the
	// fast ones tests use, so benchmarks measure the foreground path.
	Calm bool
	// Clock is the metadata peers' clock (failure detection, GC grace,
	// upload expiry, write age); nil = a fresh testclock.Clock. Move it
	// with Cluster.Advance.
	Clock *testclock.Clock
	// TokenLifetime, if set, is how long capability tokens live (default
	// 1h); data nodes then allow a tenth of it for clock skew instead of
	// 30s, so that tests see tokens expire. KeyRotation, if set, is how
	// often the leader replaces its signing key (default 24h).
	TokenLifetime time.Duration
	KeyRotation   time.Duration
	// NodeConfig, if set, adjusts data node i's configuration before it
	// starts (a small Capacity and Reserve to fill its disk, say).
	NodeConfig func(i int, c *node.Config)
	// Links puts a fault-injecting proxy (DataNode.Link) in front of every
	// data node's data port. The node advertises the proxy's address, so
	// everyone — clients, other nodes, metadata peers — reaches it
	// through the proxy, and a test can freeze, slow or cut the node as
	// the rest of the cluster sees it (its own calls out are unaffected:
	// a one-way fault, like a frozen process whose heartbeats were the
	// last thing it sent, or a half-broken network).
	Links bool
	// Insecure runs every member and client without TLS (--insecure).
	// By default a cluster from New is secured: a CA of its own, one
	// certificate per role, mutual TLS on every link, and clients from
	// Client and NewClient act as an admin. A cluster from NewInProcess
	// is always insecure (its metadata service has no TLS).
	Insecure bool
}

// Cluster is a running in-process cluster.
type Cluster struct {
	t      testing.TB
	opts   Options
	dir    string
	log    *slog.Logger
	Metas  []*MetaPeer
	Nodes  []*DataNode
	Clock  *testclock.Clock // every metadata peer's Config.Now
	mu     sync.Mutex
	client *client.Client
	// inproc is the metadata service of a cluster from NewInProcess
	// (Metas is empty then).
	inproc *inprocess.Server
	// CA signs the cluster's certificates; nil when Insecure.
	CA *pki.CA
	// Secrets seals the S3 secrets the metadata peers store; nil when
	// Insecure.
	Secrets *secrets.Sealer
	// certs are the cluster's certificate directories by principal.
	certMu sync.Mutex
	certs  map[string]*pki.Source
}

// MetaPeer is one metadata peer and its fixed addresses.
type MetaPeer struct {
	ID       string
	Dir      string
	RaftAddr string
	GRPCAddr string
	HTTPAddr string
	Proc     *server.Meta // nil while stopped
	Bridge   *Bridge
	// Join: not an initial peer; it starts empty and waits for AddPeer.
	Join bool
	// Removed: taken out of the membership; MetaAddrs leaves it out.
	Removed bool
}

// DataNode is one data node.
type DataNode struct {
	Dir  string
	Addr string // where it listens
	// Link is the proxy in front of it with Options.Links (the address
	// it advertises); nil otherwise.
	Link *faultnet.Proxy
	Proc *server.Node // nil while stopped
	lis  net.Listener // held for its first start, if the harness opened it
}

func (c *Cluster) reconcileEvery() time.Duration {
	if c.opts.Calm {
		return 10 * time.Minute
	}
	return 300 * time.Millisecond
}

// Fast timings for tests.
func testMetaConfig() meta.Config {
	c := meta.DefaultConfig()
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLease = 150 * time.Millisecond
	c.NodeSuspectAfter = 2 * time.Second
	c.NodeDeadAfter = 5 * time.Second
	c.RepairInterval = 200 * time.Millisecond
	c.GCInterval = 200 * time.Millisecond
	c.GCGrace = 0
	c.MaxWriteAge = 5 * time.Minute

	c.RepairBytesPerSec = 0
	return c
}

// New starts a cluster and waits until a client can write. Everything stops
// at the end of the test.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := newCluster(t, opts)
	opts = c.opts
	for i := range opts.Metas {
		mp := &MetaPeer{ID: fmt.Sprintf("m%d", i+1), Dir: filepath.Join(c.dir, fmt.Sprintf("meta%d", i+1))}
		mp.RaftAddr, mp.GRPCAddr, mp.HTTPAddr = freeAddr(t), freeAddr(t), freeAddr(t)
		mp.Bridge = newBridge()
		c.Metas = append(c.Metas, mp)
	}
	for i := range opts.Nodes {
		d := filepath.Join(c.dir, fmt.Sprintf("node%d", i+1))
		if opts.NodeDir != nil {
			d = opts.NodeDir(i)
		}
		c.Nodes = append(c.Nodes, &DataNode{Dir: d, Addr: freeAddr(t)})
	}
	t.Cleanup(c.Stop)
	for i := range c.Metas {
		c.StartMeta(i)
	}
	for i := range c.Nodes {
		c.StartNode(i)
	}
	c.WaitNodes(opts.Nodes)
	return c
}

// newCluster fills in the defaults of opts and returns a cluster with
// nothing started.
func newCluster(t testing.TB, opts Options) *Cluster {
	if opts.Metas <= 0 {
		opts.Metas = 1
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.Replication <= 0 {
		opts.Replication = min(3, opts.Nodes)
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = 1 << 20
	}
	lvl := slog.LevelWarn
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		lvl = slog.LevelDebug
	}
	if opts.Clock == nil {
		opts.Clock = testclock.New()
	}
	c := &Cluster{t: t, opts: opts, dir: t.TempDir(), log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), Clock: opts.Clock,
		certs: map[string]*pki.Source{}}
	if !opts.Insecure {
		var err error
		if c.CA, err = pki.CreateCA("test cluster CA", 0); err != nil {
			t.Fatal(err)
		}
		key := make([]byte, secrets.KeySize)
		crand.Read(key)
		if c.Secrets, err = secrets.New(key); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Cert returns the certificate directory of principal name with roles,
// issued by the cluster's CA for its loopback host once and reused; nil
// for an insecure cluster.
func (c *Cluster) Cert(name string, roles ...pki.Role) *pki.Source {
	c.t.Helper()
	if c.CA == nil {
		return nil
	}
	c.certMu.Lock()
	defer c.certMu.Unlock()
	if s, ok := c.certs[name]; ok {
		return s
	}
	dir := filepath.Join(c.dir, "certs", name)
	if err := c.CA.WriteCertDir(dir, pki.CertSpec{Name: name, Roles: roles, Hosts: []string{loopbackHost, "127.0.0.1", "localhost"}}); err != nil {
		c.t.Fatal(err)
	}
	s, err := pki.Load(dir, c.log)
	if err != nil {
		c.t.Fatal(err)
	}
	c.certs[name] = s
	return s
}

// URL is the URL of path on a member's HTTP or data port at addr: https
// on a secured cluster.
func (c *Cluster) URL(addr, path string) string {
	if c.CA == nil {
		return "http://" + addr + path
	}
	return "https://" + addr + path
}

// HTTPClient is an HTTP client for the members' HTTP and data ports that
// presents src's certificate (the admin's when nil) on a secured cluster.
func (c *Cluster) HTTPClient(src *pki.Source) *http.Client {
	if src == nil {
		src = c.AdminCert()
	}
	return &http.Client{Timeout: time.Minute, Transport: src.Transport(&http.Transport{})}
}

// The certificates members and clients use.
func (c *Cluster) metaCert() *pki.Source { return c.Cert("meta", pki.Meta) }
func (c *Cluster) nodeCert() *pki.Source { return c.Cert("node-*", pki.Node) } // covers the IDs nodes pick

// AdminCert is the certificate of the admin that Client and NewClient act as.
func (c *Cluster) AdminCert() *pki.Source { return c.Cert("admin", pki.Admin) }

// loopbackHost is this test process's own loopback address (all of
// 127.0.0.0/8 is loopback on Linux), derived from its PID, so that test
// binaries running side by side (go test ./... runs packages in
// parallel) never pick each other's ports.
var loopbackHost = fmt.Sprintf("127.1.%d.%d", os.Getpid()>>8&255, os.Getpid()&255)

// handedOut holds every address freeAddr returned in this process: each
// belongs to one member for the life of the process.
var handedOut sync.Map

// freeAddr returns an address of this process's loopback host with a port
// that was free a moment ago, below the kernel's ephemeral range (32768
// and up on Linux), so that no outgoing connection takes it between now
// and the moment a role listens on it. Addresses stay fixed across
// restarts of the same member.
func freeAddr(t testing.TB) string {
	for range 200 {
		addr := net.JoinHostPort(loopbackHost, strconv.Itoa(20000+rand.IntN(12000)))
		if _, taken := handedOut.Load(addr); taken {
			// A member of another cluster of this process owns it, though
			// it may be stopped right now: its restart needs it back.
			continue
		}
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			handedOut.Store(addr, true)
			return addr
		}
	}
	t.Fatalf("no free port found on %s:20000-31999", loopbackHost)
	return ""
}

// listen listens on a member's fixed address, which a member that just
// stopped may hold for a moment longer.
func listen(t testing.TB, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	await.Until(t, 5*time.Second, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l
}

// MetaAddrs are the gRPC addresses of the peers not removed (of the
// in-process metadata service in a cluster from NewInProcess).
func (c *Cluster) MetaAddrs() []string {
	if c.inproc != nil {
		return []string{c.inproc.Addr()}
	}
	var out []string
	for _, m := range c.Metas {
		if !m.Removed {
			out = append(out, m.GRPCAddr)
		}
	}
	return out
}

// StartMeta (re)starts metadata peer i with its directory and addresses.
func (c *Cluster) StartMeta(i int) {
	c.t.Helper()
	c.needRaft("StartMeta")
	mp := c.Metas[i]
	cfg := testMetaConfig()
	if c.opts.Calm {
		def := meta.DefaultConfig()
		cfg.RepairInterval, cfg.GCInterval = def.RepairInterval, def.GCInterval
	}
	cfg.ID, cfg.Dir, cfg.Logger, cfg.Now = mp.ID, mp.Dir, c.log, c.Clock.Now
	cfg.TLS, cfg.Secrets = c.metaCert(), c.Secrets
	cfg.RaftListener = listen(c.t, mp.RaftAddr)
	cfg.RaftAdvertise = mp.RaftAddr
	cfg.RaftDial = mp.Bridge.Dial
	cfg.DefaultReplication = c.opts.Replication
	cfg.RepairBytesPerSec = c.opts.RepairBytesPerSec
	cfg.NodeDeadAfter = c.NodeDeadAfter()
	if c.opts.UploadExpiry > 0 {
		cfg.UploadExpiry = c.opts.UploadExpiry
	}
	cfg.TokenLifetime, cfg.KeyRotation = c.opts.TokenLifetime, c.opts.KeyRotation
	if c.opts.SnapshotEntries > 0 {
		cfg.SnapshotEntries, cfg.SnapshotInterval = c.opts.SnapshotEntries, 200*time.Millisecond
	}
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		cfg.RaftLog = os.Stderr
	}
	for _, p := range c.Metas {
		if !p.Join {
			cfg.Peers = append(cfg.Peers, meta.Peer{ID: p.ID, RaftAddr: p.RaftAddr})
		}
	}
	cfg.Join = mp.Join
	proc, err := server.NewMeta(server.MetaConfig{Meta: cfg, GRPC: listen(c.t, mp.GRPCAddr), HTTP: listen(c.t, mp.HTTPAddr), Peers: c.MetaAddrs()})
	if err == nil {
		err = proc.Start(context.Background())
	}
	if err != nil {
		c.t.Fatalf("starting meta peer %s: %v", mp.ID, err)
	}
	mp.Proc = proc
}

// StopMeta stops peer i (a clean shutdown of the process's servers; the
// peer's on-disk state stays, as after kill -9 with synced Raft log).
func (c *Cluster) StopMeta(i int) {
	c.needRaft("StopMeta")
	if p := c.Metas[i].Proc; p != nil {
		p.Close()
		c.Metas[i].Proc = nil
	}
}

// StartNode (re)starts data node i.
func (c *Cluster) StartNode(i int) {
	c.t.Helper()
	dn := c.Nodes[i]
	vo := c.opts.Volume
	lis := dn.lis // the harness's, on the first start of a light cluster's node
	dn.lis = nil
	if lis == nil {
		lis = listen(c.t, dn.Addr)
	}
	if c.opts.Links && dn.Link == nil {
		pl, err := net.Listen("tcp", net.JoinHostPort(loopbackHost, "0"))
		if err != nil {
			c.t.Fatalf("listening for data node %d's link: %v", i, err)
		}
		dn.Link = faultnet.NewProxy(pl, dn.Addr)
	}
	nc := node.Config{
		Dir: dn.Dir, Advertise: dn.DataAddr(), Meta: c.nodeSeeds(), Logger: c.log, Volume: vo,
		HeartbeatInterval: 200 * time.Millisecond, Zone: c.zone(i),
		ScrubBytesPerSec: c.opts.ScrubBytesPerSec, ScrubInterval: time.Second,
		ReconcileInterval: c.reconcileEvery(), ReconcileGrace: 500 * time.Millisecond,
		TLS: c.nodeCert(), TokenSkew: c.opts.TokenLifetime / 10,
	}
	if c.opts.NodeConfig != nil {
		c.opts.NodeConfig(i, &nc)
	}
	proc, err := server.NewNode(server.NodeConfig{Listener: lis, Node: nc})
	if err == nil {
		err = proc.Start(context.Background())
	}
	if err != nil {
		c.t.Fatalf("starting data node %d: %v", i, err)
	}
	dn.Proc = proc
}

// DataAddr is the address the node advertises: its link's with
// Options.Links, else its own.
func (dn *DataNode) DataAddr() string {
	if dn.Link != nil {
		return dn.Link.Addr()
	}
	return dn.Addr
}

func (c *Cluster) zone(i int) string {
	if c.opts.ZoneOf != nil {
		return c.opts.ZoneOf(i)
	}
	return fmt.Sprintf("z%d", i%3)
}

// AddNode starts one more data node and returns its index.
func (c *Cluster) AddNode() int {
	c.t.Helper()
	i := len(c.Nodes)
	c.Nodes = append(c.Nodes, &DataNode{Dir: filepath.Join(c.dir, fmt.Sprintf("node%d", i+1)), Addr: freeAddr(c.t)})
	c.StartNode(i)
	return i
}

// StopNode stops data node i.
func (c *Cluster) StopNode(i int) {
	if p := c.Nodes[i].Proc; p != nil {
		p.Close()
		c.Nodes[i].Proc = nil
	}
}

// KillNode crashes data node i: connections drop mid-transfer.
func (c *Cluster) KillNode(i int) {
	if p := c.Nodes[i].Proc; p != nil {
		if err := p.Kill(); err != nil {
			c.t.Logf("killing data node %d: %v", i, err)
		}
		c.Nodes[i].Proc = nil
	}
}

// NodeIndex returns the index of the data node with the given ID, or -1.
func (c *Cluster) NodeIndex(id string) int {
	for i, n := range c.Nodes {
		if n.Proc != nil && string(n.Proc.Node.ID()) == id {
			return i
		}
	}
	return -1
}

// Leader returns the index of the leading metadata peer, waiting for one.
func (c *Cluster) Leader() int {
	c.t.Helper()
	c.needRaft("Leader")
	leader := -1
	await.Until(c.t, 40*time.Second, func() error {
		for i, m := range c.Metas {
			if m.Proc != nil && m.Proc.Server.IsLeader() {
				leader = i
				return nil
			}
		}
		return errors.New("no metadata peer leads")
	})
	return leader
}

// Keyring is the token keyring of the leading metadata peer (of the
// in-process metadata service); nil on an insecure cluster.
func (c *Cluster) Keyring() *keyring.Keyring {
	c.t.Helper()
	if c.inproc != nil {
		return c.inproc.Keyring()
	}
	return c.Metas[c.Leader()].Proc.Server.Keyring()
}

// WaitNodes waits until the leader sees n alive data nodes.
func (c *Cluster) WaitNodes(n int) {
	c.t.Helper()
	cl := c.Client()
	await.Until(c.t, 60*time.Second, func() error { // generous: CI machines are loaded
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cl.Admin().Status(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("waiting for %d data nodes: %w", n, err)
		}
		alive := 0
		for _, nd := range st.Nodes {
			if nd.State == cairn.NodeAlive {
				alive++
			}
		}
		if alive < n {
			return fmt.Errorf("%d of %d nodes alive", alive, n)
		}
		return nil
	})
}

// NodeState returns what the metadata leader believes about data node id;
// the test fails if the leader cannot say.
func (c *Cluster) NodeState(id cairn.NodeID) cairn.NodeState {
	c.t.Helper()
	st, err := c.Client().Admin().Status(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	n, ok := st.Node(id)
	if !ok {
		c.t.Fatalf("node %s is not registered", id)
	}
	return n.State
}

// Client returns a shared client for the cluster.
func (c *Cluster) Client() *client.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		c.client = c.NewClient(client.Options{})
	}
	return c.client
}

// NewClient returns a new client with the cluster's chunk size unless set.
func (c *Cluster) NewClient(o client.Options) *client.Client {
	if o.ChunkSize == 0 {
		o.ChunkSize = c.opts.ChunkSize
	}
	if o.Logger == nil {
		o.Logger = c.log
	}
	if o.TLS == nil {
		o.TLS = c.AdminCert()
	}
	cl, err := client.Dial(c.MetaAddrs(), o)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// Stop stops every member.
func (c *Cluster) Stop() {
	for i, n := range c.Nodes {
		c.StopNode(i)
		if n.lis != nil { // never started
			n.lis.Close()
			n.lis = nil
		}
		if n.Link != nil {
			n.Link.Close()
			n.Link = nil
		}
	}
	for i := range c.Metas {
		c.StopMeta(i)
	}
	if c.inproc != nil {
		if err := c.inproc.Close(); err != nil {
			c.t.Errorf("closing the in-process metadata service: %v", err)
		}
	}
}

// Bridge sits on one peer's outgoing Raft links and can cut them all.
type Bridge struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func newBridge() *Bridge { return &Bridge{} }

// Dial is the peer's Raft dialer.
func (b *Bridge) Dial(addr string, timeout time.Duration) (net.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		return nil, fmt.Errorf("bridge: link cut")
	}
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err == nil {
		b.conns = append(b.conns, conn)
	}
	return conn, err
}

// Cut drops this peer's outgoing links and refuses new ones.
func (b *Bridge) Cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cut = true
	for _, c := range b.conns {
		c.Close()
	}
	b.conns = nil
}

// Heal allows new links again.
func (b *Bridge) Heal() {
	b.mu.Lock()
	b.cut = false
	b.mu.Unlock()
}

// RandBytes returns n deterministic pseudo-random bytes for seed, so a test
// can regenerate what it wrote instead of keeping it.
func RandBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := 0; k < 8; k++ {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// User creates namespace user name with supplementary groups (through
// the admin client; an existing user gets these groups) and returns a
// client acting as it: on a secured cluster one with a user certificate
// of that name, on an insecure one the admin client acting as it.
func (c *Cluster) User(name string, groups ...string) *client.Client {
	c.t.Helper()
	if _, err := c.Client().Admin().PutUser(context.Background(), name, groups...); err != nil {
		c.t.Fatalf("creating namespace user %s: %v", name, err)
	}
	if c.CA == nil {
		return c.Client().As(name)
	}
	return c.NewClient(client.Options{TLS: c.Cert(name, pki.User)})
}
