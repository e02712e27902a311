// Package cairn holds the vocabulary every part of Cairn shares: the
// identifiers of chunks, inodes and nodes, the error kinds that travel across
// the wire, and path validation. It imports nothing else of Cairn.
//
// The rest of the tree states the architecture:
//
//	cmd/cairn     the one binary; one file per subcommand
//	meta          metadata service: namespace state machine on Pebble, Raft wiring, gRPC front end
//	meta/placement consistent-hash ring that chooses replica sets
//	volume        append-only volume files holding checksummed chunks (docs/format.md)
//	node          data node: chunk reads and writes over HTTP, replication chain, heartbeats
//	client        the Go SDK (imports no server package)
//	httpapi       REST API over the SDK
//	server        wiring of roles into processes (cairn meta, node, server)
//	checksum      CRC32C helpers, including combining CRCs of adjacent ranges
//	proto/cairnpb protobuf definitions and generated gRPC code
//	internal/testcluster in-process clusters for integration tests
package cairn
