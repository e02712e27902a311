package testcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/cairnfs/cairn/meta/inprocess"
)

// NewInProcess starts a light cluster and waits until a client can write:
// the in-process metadata service (meta/inprocess: the real state
// machine, registry and gRPC front end, without Raft) and opts.Nodes real
// data nodes, each on a listener the harness opens on loopback.
// Everything stops at the end of the test.
//
// It is for tests of what is built on the metadata API (the SDK, the S3
// gateway); tests of the metadata cluster itself (elections, membership,
// snapshots) need New. Options that shape a Raft cluster (Metas above 1,
// SnapshotEntries, NodeSeeds) or the healer's rounds (UploadExpiry,
// RepairBytesPerSec) are refused: the healer runs no rounds here, so
// nothing repairs, rebalances, collects garbage or expires uploads in the
// background (fsck, reconciliation and corrupt reports are answered), and
// the light cluster's state changes only when a test acts. The methods
// that act on metadata peers (StartMeta, StopMeta, Leader, AddMeta, …)
// fail the test; AddPeer and RemovePeer return the service's Invalid
// error. Like New, it is secured unless opts.Insecure.
func NewInProcess(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Metas > 1 || opts.SnapshotEntries > 0 || opts.NodeSeeds > 0 || opts.UploadExpiry > 0 || opts.RepairBytesPerSec > 0 {
		t.Fatalf("testcluster.NewInProcess: options %+v need metadata peers or the healer's rounds; use New", opts)
	}
	c := newCluster(t, opts)
	for i := range c.opts.Nodes {
		d := filepath.Join(c.dir, fmt.Sprintf("node%d", i+1))
		if opts.NodeDir != nil {
			d = opts.NodeDir(i)
		}
		l := listen(t, net.JoinHostPort(loopbackHost, "0"))
		c.Nodes = append(c.Nodes, &DataNode{Dir: d, Addr: l.Addr().String(), lis: l})
	}
	t.Cleanup(c.Stop)
	mc := testMetaConfig()
	lis := listen(t, net.JoinHostPort(loopbackHost, "0"))
	srv, err := inprocess.New(inprocess.Config{Dir: filepath.Join(c.dir, "meta"), Listener: lis,
		DefaultReplication: c.opts.Replication, NodeSuspectAfter: mc.NodeSuspectAfter, NodeDeadAfter: mc.NodeDeadAfter,
		MaxWriteAge: mc.MaxWriteAge, Logger: c.log, TLS: c.metaCert(), TokenLifetime: opts.TokenLifetime, KeyRotation: opts.KeyRotation})
	if err != nil {
		lis.Close()
		t.Fatalf("configuring the in-process metadata service: %v", err)
	}
	c.inproc = srv // Stop closes it (and the listener) from here on
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("starting the in-process metadata service: %v", err)
	}
	for i := range c.Nodes {
		c.StartNode(i)
	}
	c.WaitNodes(c.opts.Nodes)
	return c
}

// needRaft fails the test when a method that acts on metadata peers is
// called on a cluster from NewInProcess.
func (c *Cluster) needRaft(method string) {
	c.t.Helper()
	if c.inproc != nil {
		c.t.Fatalf("testcluster: %s acts on metadata peers, but this cluster runs the in-process metadata service without Raft; start it with New", method)
	}
}
