package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/metarpc"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
	"github.com/cairnfs/cairn/token"
	"github.com/cairnfs/cairn/volume"
)

// metaLink is the node's link to the metadata service: registration,
// heartbeats, a planned stop's Leave, reconciliation and corrupt-replica
// reports. Node makes it in New and fills in id, store and meta in Start.
type metaLink struct {
	cfg    *Config
	health *diskHealth
	ctx    context.Context // ends at Close, cutting off metadata calls in flight

	id    cairn.NodeID
	store *volume.Store
	meta  *metarpc.Conn
	// tokens learns the token keys from the leader's answers; nil
	// without TLS.
	tokens *token.Verifier
	space  *diskSpace

	registered atomic.Bool
	lastBeat   atomic.Int64 // unix ns of the last heartbeat or registration the leader accepted
	stopping   atomic.Bool  // a planned stop began (Leave): not ready, no more heartbeats
	beatMu     sync.Mutex   // one heartbeat or Leave at a time
}

// leader runs fn against the metadata leader's Nodes service (see
// metarpc.Conn.Leader): the only service a data node calls.
func (l *metaLink) leader(ctx context.Context, fn func(context.Context, pb.NodesClient) error) error {
	return l.meta.Leader(ctx, func(ctx context.Context, cc grpc.ClientConnInterface) error {
		return fn(ctx, pb.NewNodesClient(cc))
	})
}

// heartbeatLoop probes the disk and beats every HeartbeatInterval until
// stop is closed.
func (l *metaLink) heartbeatLoop(stop <-chan struct{}) {
	t := time.NewTicker(l.cfg.HeartbeatInterval)
	defer t.Stop()
	probeEvery := 10
	for i := 0; ; i++ {
		if i%probeEvery == 0 {
			// A full disk is not a failing disk: the node still serves reads.
			if err := probeDisk(l.cfg.Dir); err != nil && !errors.Is(err, syscall.ENOSPC) {
				l.health.markUnhealthy(err)
			} else if err == nil {
				l.health.probeOK()
			}
		}
		l.beat()
		select {
		case <-stop:
			return
		case <-t.C:
		case <-l.space.kick: // just became full: tell the leader now
		}
	}
}

// beat registers if needed and sends one heartbeat. Failures are logged and
// retried at the next tick: a node keeps serving reads and writes while the
// metadata service elects a leader.
func (l *metaLink) beat() {
	l.beatMu.Lock()
	defer l.beatMu.Unlock()
	if l.stopping.Load() {
		return // a heartbeat now would undo Leave
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.MetaTimeout)
	defer cancel()
	if !l.registered.Load() {
		if err := l.register(ctx); err != nil {
			l.cfg.Logger.Warn("registering with the metadata service", "err", err)
			return
		}
	}
	total, _ := capacity(l.cfg)
	st := l.store.Stats()
	healthy, detail := l.health.status()
	sp := l.space.check()
	full := l.space.full.Load()
	if full && detail == "" {
		detail = "disk full: " + sp.String()
	}
	hb := &pb.HeartbeatRequest{Id: string(l.id), Addr: l.cfg.Advertise, Capacity: total, Used: st.DiskBytes,
		Chunks: uint64(st.Chunks), Healthy: healthy, HealthDetail: detail, Encrypted: l.store.Encrypted(),
		Free: sp.free, Full: full}
	var resp *pb.HeartbeatResponse
	err := l.leader(ctx, func(ctx context.Context, c pb.NodesClient) (err error) {
		resp, err = c.Heartbeat(ctx, hb)
		return err
	})
	if err != nil {
		if cairn.KindOf(err) != cairn.Canceled {
			l.cfg.Logger.Debug("heartbeat failed", "err", err)
		}
		return
	}
	if resp.Register {
		l.registered.Store(false)
		if err := l.register(ctx); err != nil {
			l.cfg.Logger.Warn("re-registering with the metadata service", "err", err)
		}
		return
	}
	setTokenKeys(l.tokens, resp.TokenKeys)
	l.lastBeat.Store(time.Now().UnixNano())
}

// leave tells the metadata leader the node is leaving (see Node.Leave);
// stopping is already set, so no heartbeat follows.
func (l *metaLink) leave(ctx context.Context) error {
	l.beatMu.Lock() // wait for a heartbeat in flight, which could undo Leave
	defer l.beatMu.Unlock()
	req := &pb.LeaveRequest{Id: string(l.id), Addr: l.cfg.Advertise}
	err := l.leader(ctx, func(ctx context.Context, c pb.NodesClient) error {
		_, err := c.Leave(ctx, req)
		return err
	})
	if err != nil {
		return cairn.E("node.leave", fmt.Errorf("telling the metadata leader this node is leaving: %w", err))
	}
	l.cfg.Logger.Info("told the metadata leader this node is leaving for a planned stop", "node", l.id)
	return nil
}

func (l *metaLink) register(ctx context.Context) error {
	total, _ := capacity(l.cfg)
	req := &pb.RegisterNodeRequest{Id: string(l.id), Addr: l.cfg.Advertise, Zone: l.cfg.Zone, Rack: l.cfg.Rack, Capacity: total}
	var resp *pb.RegisterNodeResponse
	err := l.leader(ctx, func(ctx context.Context, c pb.NodesClient) (err error) {
		resp, err = c.RegisterNode(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	setTokenKeys(l.tokens, resp.TokenKeys)
	l.registered.Store(true)
	l.lastBeat.Store(time.Now().UnixNano())
	l.cfg.Logger.Info("registered with the metadata service", "node", l.id, "addr", l.cfg.Advertise)
	return nil
}

// reportCorrupt tells the metadata leader that this node's replica of id
// is corrupt.
func (l *metaLink) reportCorrupt(ctx context.Context, id cairn.ChunkID) error {
	return l.leader(ctx, func(ctx context.Context, c pb.NodesClient) error {
		_, err := c.ReportCorrupt(ctx, &pb.ReportCorruptRequest{Node: string(l.id), Chunks: [][]byte{id[:]}})
		return err
	})
}

// reportSlow tells the metadata leader that node stalled a forwarded
// chunk (waiting at most a second; a failure is only logged).
func (l *metaLink) reportSlow(node, reason string) {
	if l.meta == nil {
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, time.Second)
	defer cancel()
	err := l.meta.Leader(ctx, func(ctx context.Context, cc grpc.ClientConnInterface) error {
		_, err := pb.NewDataClient(cc).ReportSlow(ctx, &pb.ReportSlowRequest{Node: node, Reason: reason})
		return err
	})
	if err != nil {
		l.cfg.Logger.Debug("could not report a slow data node", "node", node, "err", err)
	}
}

// capacity returns the configured capacity or the file system's size.
func capacity(cfg *Config) (total, free int64) {
	var st unix.Statfs_t
	if err := unix.Statfs(cfg.Dir, &st); err == nil {
		total = int64(st.Blocks) * int64(st.Bsize)
		free = int64(st.Bavail) * int64(st.Bsize)
	}
	if cfg.Capacity > 0 {
		total = cfg.Capacity
	}
	return total, free
}
