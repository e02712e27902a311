// Package cairn holds the vocabulary every part of Cairn shares: the
// identifiers of chunks, inodes and nodes, the error kinds that travel across
// the wire, and path validation. It imports nothing else of Cairn.
//
// The rest of the tree states the architecture:
//
//	cmd/cairn      the one binary; one file per subcommand
//	server         runs each role (meta, node, gateway, all three) with one lifecycle
//	meta           metadata peer's Raft server: wiring, proposals, membership, readiness
//	meta/state     namespace state machine on Pebble (no Raft, no gRPC)
//	meta/registry  data-node directory: heartbeats, node states, replica choice
//	meta/placement consistent-hash ring that chooses replica sets
//	meta/heal      repair, rebalancing, garbage collection, fsck, reconciliation
//	meta/grpcapi   gRPC front end of a metadata peer, one handler group per service
//	meta/inprocess the same front end without Raft, for tests
//	rpcerr         error codec between gRPC statuses and cairn kinds (both sides)
//	metarpc        client side of the metadata API: leader finding, retries, discovery
//	volume         append-only volume files holding checksummed chunks (docs/format.md)
//	node           data node: chunk reads and writes over HTTP, replication chain, heartbeats
//	client         the Go SDK (imports no server package, exports no generated type)
//	httpapi        REST API over the SDK
//	s3             S3 gateway over the SDK; s3/sigv4 verifies signatures
//	cairnhttp      data protocol headers and the kind-to-HTTP-status table
//	checksum       CRC32C helpers, including combining CRCs of adjacent ranges
//	proto/cairnpb  protobuf definitions and generated gRPC code
//	internal/...   test support: testcluster, testclock, await, leakcheck, testenv
//
// docs/architecture.md describes each package, what it may import, and
// the path of a write and of a read through them.
package cairn
