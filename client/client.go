// Package client is Cairn's Go SDK. It talks to the metadata service over
// gRPC (finding the leader itself) and to data nodes over HTTP, uploads and
// downloads chunks in parallel with bounded concurrency, and verifies every
// byte it returns against the CRC32C checksums the writer computed.
//
// A Client does what programs do with files: read, write, list, rename,
// remove, multipart uploads. What operators do (cluster status, metadata
// peers, draining data nodes, fsck, credentials) is on the Admin handle
// that Client.Admin returns. The API speaks Cairn's own types, with the
// identifiers of the root package (cairn.NodeID, cairn.ChunkID,
// cairn.InodeID); the generated protobuf types stay behind it, so the wire
// can change without breaking callers. Errors carry a cairn.Kind; test
// them with errors.Is.
//
// The client imports no server package.
package client

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/internal/stall"
	"github.com/cairnfs/cairn/metarpc"
	"github.com/cairnfs/cairn/pki"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/requestid"
)

// DefaultChunkSize is the chunk size of new files unless Options say
// otherwise.
const DefaultChunkSize = 8 << 20

// Options configure a Client. The zero value is usable.
type Options struct {
	ChunkSize   int64 // bytes per chunk for new files; default 8 MiB
	Replication int   // replicas per chunk; 0 = the cluster's default
	Concurrency int   // chunks in flight per transfer; default 4
	// MD5 makes writers compute an MD5 per chunk (stored in metadata) and
	// readers verify it on whole-chunk reads, on top of the CRC32C checks
	// that always run. It costs a pass at ≈ 0.8 GB/s per core.
	MD5 bool
	// RetryFor bounds how long metadata calls retry while no leader is
	// reachable; default 30s.
	RetryFor  time.Duration
	Transport http.RoundTripper // to data nodes; default a tuned transport
	// StaleReads lets Stat, List, Open and other reads be answered by any
	// metadata peer from its own state, which may lag the leader. Off by
	// default: reads are linearizable.
	StaleReads bool
	Logger     *slog.Logger
	// AvoidFor is how long a data node that refused a connection or
	// answered 503 is read from last and left out of new replica sets;
	// default 5s, negative turns it off.
	AvoidFor time.Duration
	// RefreshEvery is how often the client asks the cluster for its
	// metadata peers (it also asks after a peer fails); default 2s,
	// negative turns discovery off.
	RefreshEvery time.Duration
	// StallPatience is the least time, per replica of the chunk, a data
	// node may go without taking a chunk's bytes, or without answering once
	// it has them all, before the client gives the write up and sends the
	// chunk to other replicas (avoiding that node for a while). Per
	// replica: the first node of a chain gives up on a frozen successor
	// first and reports it, so the client blames the right node. The client
	// waits longer, up to 4×, when healthy writes have been that slow (4 ×
	// their 99th percentile). Default 1.5s, as a data node's own
	// patience (node.Config.ForwardPatience).
	StallPatience time.Duration
	// TLS is the client's certificate directory (pki.Load; the CLI finds
	// it through --certs-dir). It secures the calls to the metadata peers
	// and, unless Transport is given, to the data nodes. Nil connects
	// without TLS, to a cluster run with --insecure.
	TLS *pki.Source
}

// Client is a connection to a cluster for file operations; Admin gives
// the cluster operations over the same connections. It is safe for
// concurrent use.
type Client struct {
	opts  Options
	meta  *metarpc.Conn
	http  *http.Client
	alloc *allocPool
	bufs  *bufPool
	load  *nodeLoad
	// stalls learns how long healthy chunk writes take to answer.
	stalls *stall.Tracker
	// requests names the calls that change the namespace.
	requests *requestid.Source
	// scheme is the data ports' URL scheme: https with TLS.
	scheme string
	// actAs is the namespace user the calls act as (As); "" is the
	// certificate's own principal.
	actAs string
}

// EnvMeta is the environment variable that names the metadata peers when
// no address is given.
const EnvMeta = "CAIRN_META"

// DefaultMeta is where a `cairn server` on this machine listens.
const DefaultMeta = "127.0.0.1:9090"

// Dial connects to the metadata peers at addrs (host:port of their gRPC API;
// commas allowed). With no addrs it uses $CAIRN_META, then DefaultMeta. It
// does not block: the first call finds the leader.
func Dial(addrs []string, opts Options) (*Client, error) {
	if len(addrs) == 0 {
		if env := os.Getenv(EnvMeta); env != "" {
			addrs = []string{env}
		} else {
			addrs = []string{DefaultMeta}
		}
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.RetryFor <= 0 {
		opts.RetryFor = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Transport == nil {
		opts.Transport = &http.Transport{
			MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute,
			DialContext:        (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			WriteBufferSize:    256 << 10,
			ReadBufferSize:     256 << 10,
			DisableCompression: true,
		}
		opts.TLS.Transport(opts.Transport.(*http.Transport))
	}
	if opts.AvoidFor == 0 {
		opts.AvoidFor = 5 * time.Second
	}
	if opts.StallPatience <= 0 {
		opts.StallPatience = 1500 * time.Millisecond
	}
	m, err := metarpc.Dial(addrs, metarpc.Options{RetryFor: opts.RetryFor, RefreshEvery: opts.RefreshEvery, TLS: opts.TLS})
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, meta: m, http: &http.Client{Transport: opts.Transport}, load: newNodeLoad(opts.AvoidFor), scheme: pki.Scheme(opts.TLS),
		stalls: stall.NewTracker(opts.StallPatience, 4*opts.StallPatience, 4), requests: requestid.NewSource()}
	c.alloc = &allocPool{c: c}
	c.bufs = &bufPool{size: opts.ChunkSize}
	return c, nil
}

// MetaAddrs returns the metadata peers' API addresses this client knows:
// those learned from the cluster first, then the ones it was given.
func (c *Client) MetaAddrs() []string { return c.meta.Addrs() }

// Close releases connections. The Admin handles of c stop working too.
func (c *Client) Close() error {
	if t, ok := c.opts.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return c.meta.Close()
}

// stubs are the metadata services the SDK calls, on the connection to
// one peer: the namespace and the data path for Client, the rest for
// Admin. Data nodes' Nodes service is not among them.
type stubs struct {
	ns      pb.NamespaceClient
	data    pb.DataClient
	cluster pb.ClusterClient
	ops     pb.OperatorClient
	creds   pb.CredentialsClient
}

// withStubs adapts fn to metarpc's callbacks, which get the connection.
func withStubs(fn func(context.Context, stubs) error) func(context.Context, grpc.ClientConnInterface) error {
	return func(ctx context.Context, cc grpc.ClientConnInterface) error {
		return fn(ctx, stubs{ns: pb.NewNamespaceClient(cc), data: pb.NewDataClient(cc), cluster: pb.NewClusterClient(cc),
			ops: pb.NewOperatorClient(cc), creds: pb.NewCredentialsClient(cc)})
	}
}

// leader runs fn against the metadata leader (see metarpc.Conn.Leader).
// The call carries a request ID, the same on every retry, so that a
// mutation whose answer was lost is not applied twice (package requestid).
func (c *Client) leader(ctx context.Context, fn func(context.Context, stubs) error) error {
	return c.meta.Leader(requestid.Attach(c.outgoing(ctx), c.requests.Next()), withStubs(fn))
}

// any runs fn against any peer, preferring the leader (metarpc.Conn.Any).
func (c *Client) any(ctx context.Context, fn func(context.Context, stubs) error) error {
	return c.meta.Any(c.outgoing(ctx), withStubs(fn))
}

// reader runs a read: at the leader, or at any peer with StaleReads.
func (c *Client) reader(ctx context.Context, fn func(context.Context, stubs) error) error {
	if c.opts.StaleReads {
		return c.any(ctx, fn)
	}
	return c.leader(ctx, fn)
}

// readOpts is the ReadOptions every read sends.
func (c *Client) readOpts() *pb.ReadOptions {
	if c.opts.StaleReads {
		return &pb.ReadOptions{Stale: true}
	}
	return nil
}

// MkdirOptions tune Mkdir.
type MkdirOptions struct {
	// Parents creates missing parent directories too, and makes an
	// existing directory at the path a success instead of Exists.
	Parents bool
	// Mode is the new directory's permission bits (with setgid and
	// sticky); 0 means 0755. Missing parents get 0755.
	Mode fs.FileMode
}

// Mkdir creates a directory (mode 0755 unless opts.Mode) and returns its attributes. It
// fails with NotFound when the parent is missing (without Parents), NotDir
// when a parent is a file, and Exists when the path is taken (with
// Parents, only when it is taken by a file).
func (c *Client) Mkdir(ctx context.Context, path string, opts MkdirOptions) (*FileInfo, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	var resp *pb.StatResponse
	err = c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.ns.Mkdir(ctx, &pb.MkdirRequest{Path: p, Parents: opts.Parents, Mode: posixMode(opts.Mode)})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(p, resp.Attr), nil
}

// Stat describes a file or directory; NotFound if it does not exist.
func (c *Client) Stat(ctx context.Context, path string) (*FileInfo, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	var resp *pb.StatResponse
	err = c.reader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.ns.Stat(ctx, &pb.StatRequest{Path: p, Read: c.readOpts()})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(p, resp.Attr), nil
}

// RenameOptions tune Rename.
type RenameOptions struct {
	// NoReplace makes Rename fail with Exists instead of replacing an
	// existing destination.
	NoReplace bool
}

// Rename moves src to dst atomically. It refuses to move a directory into
// itself (Invalid); an existing dst is replaced if POSIX rules allow (a
// file by a file, an empty directory by a directory) unless NoReplace is
// set. If it fails, nothing moved.
func (c *Client) Rename(ctx context.Context, src, dst string, opts RenameOptions) error {
	s, err := cairn.CleanPath(src)
	if err != nil {
		return err
	}
	d, err := cairn.CleanPath(dst)
	if err != nil {
		return err
	}
	return c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.ns.Rename(ctx, &pb.RenameRequest{Src: s, Dst: d, NoReplace: opts.NoReplace})
		return err
	})
}

// RemoveOptions tune Remove.
type RemoveOptions struct {
	// Recursive removes a directory with everything below it; without it
	// a non-empty directory is refused.
	Recursive bool
}

// RemoveResult counts what a Remove took away.
type RemoveResult struct {
	Files uint64
	Dirs  uint64
}

// Remove deletes a file or an empty directory, or with Recursive a whole
// tree, in one metadata step: if it fails, nothing was removed. Their
// chunks are collected from the data nodes in the background.
func (c *Client) Remove(ctx context.Context, path string, opts RemoveOptions) (RemoveResult, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return RemoveResult{}, err
	}
	var resp *pb.RemoveResponse
	err = c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.ns.Remove(ctx, &pb.RemoveRequest{Path: p, Recursive: opts.Recursive})
		return err
	})
	if err != nil {
		return RemoveResult{}, err
	}
	return RemoveResult{Files: resp.Files, Dirs: resp.Dirs}, nil
}

// WrapInDir replaces the file at path with a new directory of the same
// name (mode 0755) that holds the file as name, in one metadata step: the
// file keeps its inode, content and attributes, and path/name is its new
// path. It is how a file becomes a prefix of deeper paths without being
// copied. If path is already a directory, nothing changes and its
// attributes are returned, so a retry after a lost reply is harmless.
// NotFound if nothing is at path; Invalid if name is not a valid entry
// name.
func (c *Client) WrapInDir(ctx context.Context, path, name string) (*FileInfo, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	var resp *pb.StatResponse
	err = c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.ns.WrapInDir(ctx, &pb.WrapInDirRequest{Path: p, Name: name})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(p, resp.Attr), nil
}

// SetAttr changes attributes; nil fields are left alone.
type SetAttr struct {
	Mode        *uint32
	UID, GID    *uint32
	ModTime     *time.Time
	SetXattrs   map[string]string
	RemoveXattr []string
	// Owner and Group by name, resolved by the metadata service; they
	// override UID and GID. "" leaves them alone.
	Owner, Group string
}

// Chattr applies a SetAttr to path.
func (c *Client) Chattr(ctx context.Context, path string, sa SetAttr) (*FileInfo, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	req := &pb.SetAttrRequest{Path: p, Mode: sa.Mode, Uid: sa.UID, Gid: sa.GID, SetXattrs: sa.SetXattrs, RemoveXattrs: sa.RemoveXattr,
		Owner: sa.Owner, Group: sa.Group}
	if sa.ModTime != nil {
		ns := sa.ModTime.UnixNano()
		req.MtimeNs = &ns
	}
	var resp *pb.StatResponse
	err = c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.ns.SetAttr(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(p, resp.Attr), nil
}

// bufPool recycles chunk buffers of the client's chunk size, so streaming
// large files does not allocate (and zero) a fresh buffer per chunk.
type bufPool struct {
	size int64
	p    sync.Pool
}

func (b *bufPool) get(n int64) []byte {
	if n == b.size {
		if buf, ok := b.p.Get().(*[]byte); ok {
			return (*buf)[:n]
		}
	}
	return make([]byte, n)
}

func (b *bufPool) put(buf []byte) {
	if int64(cap(buf)) == b.size {
		buf = buf[:cap(buf)]
		b.p.Put(&buf)
	}
}

// allocPool hands out pre-allocated chunk IDs with replica sets for the
// common case (default replication, nothing excluded), so a small file
// costs one metadata round trip (the commit) instead of two. Allocations
// expire quickly so that membership changes are picked up.
type allocPool struct {
	c       *Client
	mu      sync.Mutex
	batch   []*allocation
	fetched time.Time
}

// allocation is a fresh chunk ID with its replica set and the write token
// its first replica wants (nil when the cluster runs --insecure).
type allocation struct {
	*pb.Allocation
	token []byte
}

const allocBatch = 64
const allocTTL = 2 * time.Second

func (p *allocPool) get(ctx context.Context, repl int, exclude []string) (*allocation, error) {
	if len(exclude) > 0 || repl != p.c.opts.Replication {
		a, err := p.c.allocate(ctx, 1, repl, exclude)
		if err != nil {
			return nil, err
		}
		return a[0], nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.batch) == 0 || time.Since(p.fetched) > allocTTL {
		a, err := p.c.allocate(ctx, allocBatch, repl, nil)
		if err != nil {
			return nil, err
		}
		p.batch, p.fetched = a, time.Now()
	}
	a := p.batch[len(p.batch)-1]
	p.batch = p.batch[:len(p.batch)-1]
	return a, nil
}

func (p *allocPool) flush() {
	p.mu.Lock()
	p.batch = nil
	p.mu.Unlock()
}

func (c *Client) allocate(ctx context.Context, n, repl int, exclude []string) ([]*allocation, error) {
	var resp *pb.AllocateResponse
	err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.AllocateChunks(ctx, &pb.AllocateRequest{Count: uint32(n), Replication: uint32(repl), Exclude: exclude})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Chunks) != n {
		return nil, cairn.E("allocate", cairn.Internal, errors.New("metadata service returned the wrong number of chunks"))
	}
	out := make([]*allocation, n)
	for i, a := range resp.Chunks {
		out[i] = &allocation{Allocation: a}
		if int(a.Token) < len(resp.Tokens) {
			out[i].token = resp.Tokens[a.Token]
		}
	}
	return out, nil
}
