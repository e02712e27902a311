package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// leader runs fn against the metadata leader's Nodes service (see
// metarpc.Conn.Leader): the only service a data node calls.
func (n *Node) leader(ctx context.Context, fn func(context.Context, pb.NodesClient) error) error {
	return n.meta.Leader(ctx, func(ctx context.Context, cc grpc.ClientConnInterface) error {
		return fn(ctx, pb.NewNodesClient(cc))
	})
}

func (n *Node) heartbeatLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	probeEvery := 10
	for i := 0; ; i++ {
		if i%probeEvery == 0 {
			// A full disk is not a failing disk: the node still serves reads.
			if err := n.probeDisk(); err != nil && !errors.Is(err, syscall.ENOSPC) {
				n.markUnhealthy(err)
			} else if err == nil && !n.healthy.Load() && !n.diskFailed.Load() {
				n.healthy.Store(true)
				n.healthMsg.Store("")
			}
		}
		n.beat()
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

// beat registers if needed and sends one heartbeat. Failures are logged and
// retried at the next tick: a node keeps serving reads and writes while the
// metadata service elects a leader.
func (n *Node) beat() {
	n.beatMu.Lock()
	defer n.beatMu.Unlock()
	if n.stopping.Load() {
		return // a heartbeat now would undo Leave
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.MetaTimeout)
	defer cancel()
	if !n.registered.Load() {
		if err := n.register(ctx); err != nil {
			n.cfg.Logger.Warn("registering with the metadata service", "err", err)
			return
		}
	}
	total, _ := n.capacity()
	st := n.store.Stats()
	hb := &pb.HeartbeatRequest{Id: string(n.id), Addr: n.cfg.Advertise, Capacity: total, Used: st.DiskBytes,
		Chunks: uint64(st.Chunks), Healthy: n.healthy.Load(), HealthDetail: n.healthMsg.Load().(string)}
	var resp *pb.HeartbeatResponse
	err := n.leader(ctx, func(ctx context.Context, c pb.NodesClient) (err error) {
		resp, err = c.Heartbeat(ctx, hb)
		return err
	})
	if err != nil {
		if cairn.KindOf(err) != cairn.Canceled {
			n.cfg.Logger.Debug("heartbeat failed", "err", err)
		}
		return
	}
	if resp.Register {
		n.registered.Store(false)
		if err := n.register(ctx); err != nil {
			n.cfg.Logger.Warn("re-registering with the metadata service", "err", err)
		}
		return
	}
	n.lastBeat.Store(time.Now().UnixNano())
}

// Leave prepares a planned stop (a restart or a rolling update):
// readiness fails, heartbeats stop, and the metadata leader is told that
// the node is leaving, so it places no new chunks here, lists this node's
// replicas last, and does not repair its chunks unless it stays away past
// the dead timeout. If the leader cannot be reached the error is returned
// and the node still stops heartbeating: the leader then sees it as
// suspect, later dead, as after a crash. The caller stops serving next.
func (n *Node) Leave(ctx context.Context) error {
	n.stopping.Store(true)
	if !n.started.Load() {
		return nil // never registered: nobody to tell
	}
	n.beatMu.Lock() // wait for a heartbeat in flight, which could undo Leave
	defer n.beatMu.Unlock()
	req := &pb.LeaveRequest{Id: string(n.id), Addr: n.cfg.Advertise}
	err := n.leader(ctx, func(ctx context.Context, c pb.NodesClient) error {
		_, err := c.Leave(ctx, req)
		return err
	})
	if err != nil {
		return cairn.E("node.leave", fmt.Errorf("telling the metadata leader this node is leaving: %w", err))
	}
	n.cfg.Logger.Info("told the metadata leader this node is leaving for a planned stop", "node", n.id)
	return nil
}

func (n *Node) register(ctx context.Context) error {
	total, _ := n.capacity()
	req := &pb.RegisterNodeRequest{Id: string(n.id), Addr: n.cfg.Advertise, Zone: n.cfg.Zone, Rack: n.cfg.Rack, Capacity: total}
	err := n.leader(ctx, func(ctx context.Context, c pb.NodesClient) error {
		_, err := c.RegisterNode(ctx, req)
		return err
	})
	if err != nil {
		return err
	}
	n.registered.Store(true)
	n.lastBeat.Store(time.Now().UnixNano())
	n.cfg.Logger.Info("registered with the metadata service", "node", n.id, "addr", n.cfg.Advertise)
	return nil
}
