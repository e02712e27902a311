// Package inprocess is a metadata service in one process, without Raft:
// the real state machine (meta/state), node registry (meta/registry) and
// healer (meta/heal) behind the real gRPC front end (meta/grpcapi),
// served on a listener it is handed. The SDK (client.Dial), the S3
// gateway and data nodes talk to it exactly as to a metadata cluster, so
// their tests run without starting Raft, the way upspin's inprocess
// implementations serve its tests. It is named by how it implements the
// service; a later embedded single-process mode could use it too.
//
// Commands are applied to the state machine directly, one at a time, in
// the order they arrive, with increasing log indexes. This peer is always
// the leader: writes and linearizable reads are served at once (a read
// sees every write that returned before it began), the membership is
// just this peer, and the operations that need a Raft cluster (AddPeer,
// RemovePeer, TransferLeadership) fail with an Invalid error that says
// so. The healer answers fsck, reconciliation and corrupt-replica
// reports; its background rounds (repair, rebalancing, garbage
// collection, upload expiry) run only when Config.Heal asks for them.
//
// What it does not do: replicate, or survive a crash beyond what Pebble
// keeps. Commands are written to Pebble without fsync, as on a metadata
// peer, where the Raft log is the durable record; here there is no log,
// so a machine crash may lose the last writes (a process that only
// exits keeps them).
//
// It imports the state machine, registry, healer and front end, never
// Raft or the Raft server (meta). Only tests and internal/testcluster
// import it.
package inprocess
