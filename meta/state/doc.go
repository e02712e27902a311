// Package state is the metadata service's state machine: the namespace
// (inodes, directory entries, attributes), each file's chunk list, where
// every chunk lives, chunks queued for deletion, upload sessions and their
// parts, credentials (access keys and secrets), registered data nodes and the metadata peers' API
// addresses, all in one Pebble database (the key layout is in keys.go).
//
// Machine.Apply applies committed commands in log order; each command runs
// in its own batch through an applier (tx and the topic types namespace,
// uploads, multipart, locations, credentials, cluster) that checks
// everything that can fail before it writes, so a failed command leaves
// nothing behind and its error goes back to the proposer. Reads go through
// a View. Snapshot and Restore move the whole state for the replicated
// log.
//
// The package knows nothing of the network or of consensus: it imports
// Pebble, the protobuf messages of proto/cairnpb, the root package and
// checksum, and never Raft, gRPC or another meta package. Its tests drive
// it with hand-built commands. Errors carry cairn kinds; a database that
// cannot commit an applied command makes Apply panic, because the state
// machine cannot continue without it.
package state
