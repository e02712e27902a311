package cairn

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// ChunkID names one immutable chunk. It is chosen by the metadata leader
// when it allocates the chunk and never reused: 6 bytes of allocation time
// (Unix milliseconds, big-endian) then 10 random bytes. The time lets the
// collector tell an old orphan from a chunk whose write is still in flight.
type ChunkID [16]byte

// NewChunkID returns a fresh chunk ID stamped with the current time.
func NewChunkID() ChunkID { return newChunkIDAt(time.Now()) }

func newChunkIDAt(t time.Time) ChunkID {
	var id ChunkID
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		id[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(id[6:]); err != nil {
		panic("cairn: crypto/rand failed: " + err.Error())
	}
	return id
}

// Time returns when the chunk ID was allocated.
func (id ChunkID) Time() time.Time {
	var ms uint64
	for i := 0; i < 6; i++ {
		ms = ms<<8 | uint64(id[i])
	}
	return time.UnixMilli(int64(ms))
}

// String returns the ID as 32 lower-case hex digits.
func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID, which names no chunk.
func (id ChunkID) IsZero() bool { return id == ChunkID{} }

// ParseChunkID parses the 32 hex digit form produced by String.
func ParseChunkID(s string) (ChunkID, error) {
	var id ChunkID
	if len(s) != 32 {
		return id, E(Invalid, fmt.Errorf("chunk id %q: want 32 hex digits", s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, E(Invalid, fmt.Errorf("chunk id %q: %v", s, err))
	}
	return id, nil
}

// ChunkIDFromBytes converts a 16-byte slice; anything else is Invalid.
func ChunkIDFromBytes(b []byte) (ChunkID, error) {
	var id ChunkID
	if len(b) != len(id) {
		return id, E(Invalid, fmt.Errorf("chunk id has %d bytes, want 16", len(b)))
	}
	copy(id[:], b)
	return id, nil
}

// InodeID names a file or directory in the namespace. The root is RootInode.
type InodeID uint64

// RootInode is the inode of "/".
const RootInode InodeID = 1

// NodeID names a data node. It is chosen once when a node's data directory is
// initialised and never changes, even if the node's address does.
type NodeID string

// Location is one replica of a chunk: which node holds it and where to reach it.
type Location struct {
	Node NodeID
	Addr string // host:port of the node's data port
}

// NodeState is what the metadata service believes about a data node.
type NodeState int

const (
	NodeAlive    NodeState = iota // heartbeats arrive on time
	NodeSuspect                   // heartbeats are late
	NodeDead                      // no heartbeat for the dead timeout
	NodeDraining                  // leaving: no new chunks are placed here
	// NodeLeaving is a planned stop (a restart): no new chunks, replicas
	// read last, but not repaired unless it stays away past the dead timeout.
	NodeLeaving
	// NodeUnknown is the state of a node the metadata service has no
	// record of, such as one named by a chunk after it was removed.
	NodeUnknown
)

func (s NodeState) String() string {
	switch s {
	case NodeAlive:
		return "alive"
	case NodeSuspect:
		return "suspect"
	case NodeDead:
		return "dead"
	case NodeDraining:
		return "draining"
	case NodeLeaving:
		return "leaving"
	case NodeUnknown:
		return "unknown"
	}
	return fmt.Sprintf("NodeState(%d)", int(s))
}

// ParseNodeState is the inverse of String for the named states; any other
// text is Invalid.
func ParseNodeState(s string) (NodeState, error) {
	for st := NodeAlive; st <= NodeUnknown; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return NodeUnknown, E(Invalid, fmt.Errorf("node state %q: want alive, suspect, dead, draining, leaving or unknown", s))
}
