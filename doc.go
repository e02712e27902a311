// Package cairn holds the vocabulary every part of Cairn shares: the
// identifiers of chunks, inodes and nodes, the error kinds that travel across
// the wire, and path validation. It imports nothing else of Cairn.
//
// The rest of the tree states the architecture:
//
//	cmd/cairn     the one binary; one file per subcommand
//	meta          metadata peer's Raft server: wiring, proposals, membership, readiness
//	meta/state    namespace state machine on Pebble (no Raft, no gRPC)
//	meta/registry data-node directory: heartbeats, node states, replica choice
//	meta/placement consistent-hash ring that chooses replica sets
//	meta/heal     repair, rebalancing, garbage collection, fsck, reconciliation
//	meta/grpcapi  gRPC front end of a metadata peer
//	rpcerr        error codec between gRPC statuses and cairn kinds (both sides)
//	volume        append-only volume files holding checksummed chunks (docs/format.md)
//	node          data node: chunk reads and writes over HTTP, replication chain, heartbeats
//	client        the Go SDK (imports no server package)
//	httpapi       REST API over the SDK
//	server        wiring of roles into processes (cairn meta, node, server)
//	checksum      CRC32C helpers, including combining CRCs of adjacent ranges
//	proto/cairnpb protobuf definitions and generated gRPC code
//	internal/testcluster in-process clusters for integration tests
package cairn
