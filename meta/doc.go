// Package meta is a metadata peer's Raft server: it opens the state machine
// (meta/state) and the Raft log, snapshots and transport, feeds committed
// entries to the state machine through a raft.BatchingFSM adapter, and
// runs the peer's lifecycle. Its parts:
//
//   - Server (server.go, lifecycle.go): New, readiness, planned shutdown
//     and leadership transfer, Close; it owns the registry (meta/registry)
//     and the healer (meta/heal) and resets them when it gains leadership;
//   - Proposer (propose.go): proposals through Raft and the leader gate for
//     writes and linearizable reads (leadercheck.go coalesces VerifyLeader);
//   - Members (membership.go, peerloop.go): adding and removing peers, the
//     peers' API addresses, and the follower's poll of the leader.
//
// The gRPC front end lives in meta/grpcapi and imports this package, never
// the other way round. meta imports Raft, its BoltDB log store, gRPC (to
// poll other peers), rpcerr and the meta subpackages.
//
// Errors carry cairn kinds: NotLeader with a leader hint when another peer
// leads, Unavailable (marked retryable) when the outcome of a proposal is
// unknown, Invalid for a bad configuration. Library code never exits the
// process.
package meta
