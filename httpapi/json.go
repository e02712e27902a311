package httpapi

import (
	"fmt"
	"time"

	"github.com/cairnfs/cairn/client"
)

// Stat is the JSON form of a file's or directory's attributes, returned by
// GET /v1/stat/, by uploads and in directory listings.
type Stat struct {
	Name        string            `json:"name"`
	Path        string            `json:"path"`
	Size        int64             `json:"size"`
	Dir         bool              `json:"dir"`
	Mode        string            `json:"mode"`  // permission bits in octal, e.g. "0644" ("4755" with setuid)
	Mtime       string            `json:"mtime"` // RFC 3339 with nanoseconds, UTC
	UID         uint32            `json:"uid"`
	GID         uint32            `json:"gid"`
	Owner       string            `json:"owner"` // the namespace user of uid ("root" for 0)
	Group       string            `json:"group"` // the namespace group of gid
	Inode       uint64            `json:"inode"`
	CRC32C      string            `json:"crc32c,omitempty"` // whole-content CRC32C, 8 hex digits; files only
	Version     uint64            `json:"version"`
	Chunks      uint64            `json:"chunks"`
	ChunkSize   int64             `json:"chunk_size"`
	Replication int               `json:"replication"`
	Xattrs      map[string]string `json:"xattrs,omitempty"`
	Quota       *Quota            `json:"quota,omitempty"` // directories with a quota only
}

// Quota is a directory's quota: its limits (0 = none) and what lies below
// it now (logical bytes; files and directories).
type Quota struct {
	Bytes     int64 `json:"bytes"`
	Files     int64 `json:"files"`
	UsedBytes int64 `json:"used_bytes"`
	UsedFiles int64 `json:"used_files"`
}

func newStat(fi *client.FileInfo) *Stat {
	s := &Stat{
		Name: fi.Name(), Path: fi.Path, Size: fi.Size(), Dir: fi.IsDir(),
		Mode:  fmt.Sprintf("%04o", fi.POSIXMode()),
		Mtime: fi.ModTime().UTC().Format(time.RFC3339Nano),
		UID:   fi.UID, GID: fi.GID, Owner: fi.Owner, Group: fi.Group, Inode: uint64(fi.Inode), Version: fi.Version,
		Chunks: fi.Chunks, ChunkSize: fi.ChunkSize, Replication: fi.Replication, Xattrs: fi.Xattrs,
	}
	if !s.Dir {
		s.CRC32C = crcHex(fi.CRC32C)
	}
	if fi.Quota != nil {
		s.Quota = &Quota{Bytes: fi.Quota.Bytes, Files: fi.Quota.Files, UsedBytes: fi.Usage.Bytes, UsedFiles: fi.Usage.Files}
	}
	return s
}

func crcHex(crc uint32) string { return fmt.Sprintf("%08x", crc) }

// etag identifies one version of a file's content.
func etag(fi *client.FileInfo) string {
	return fmt.Sprintf(`"crc32c-%08x-v%d"`, fi.CRC32C, fi.Version)
}

// Block is one chunk of a file and the data nodes holding it.
type Block struct {
	Offset int64    `json:"offset"`
	Length int64    `json:"length"`
	Hosts  []string `json:"hosts"` // data node addresses, best first
	Nodes  []string `json:"nodes"` // their node IDs, in the same order
}

// Locations is the answer to GET /v1/locations/.
type Locations struct {
	Path   string  `json:"path"`
	Blocks []Block `json:"blocks"`
}

func newLocations(p string, bl []client.BlockLocation) *Locations {
	out := &Locations{Path: p, Blocks: make([]Block, 0, len(bl))}
	for _, b := range bl {
		nodes := make([]string, len(b.Nodes))
		for i, n := range b.Nodes {
			nodes[i] = string(n)
		}
		hosts := b.Hosts
		if hosts == nil {
			hosts = []string{}
		}
		out.Blocks = append(out.Blocks, Block{Offset: b.Offset, Length: b.Length, Hosts: hosts, Nodes: nodes})
	}
	return out
}

// Cluster is the answer to GET /v1/cluster: the cluster as the metadata
// leader sees it.
type Cluster struct {
	Leader       Leader  `json:"leader"`
	Peers        []Peer  `json:"peers"`
	Nodes        []Node  `json:"nodes"`
	CommitIndex  uint64  `json:"commit_index"`
	AppliedIndex uint64  `json:"applied_index"`
	Repair       *Repair `json:"repair,omitempty"`
}

// Repair is the leader's self-healing progress: re-replication, rebalancing
// and garbage collection.
type Repair struct {
	Queued          uint64  `json:"queued"`
	InFlight        uint64  `json:"in_flight"`
	Repaired        uint64  `json:"repaired"`
	Failed          uint64  `json:"failed"`
	BytesMoved      uint64  `json:"bytes_moved"`
	BytesPerSecond  float64 `json:"bytes_per_second"`
	ETASeconds      float64 `json:"eta_seconds"`
	RebalanceQueued uint64  `json:"rebalance_queued"`
	RebalanceMoved  uint64  `json:"rebalance_moved"`
	GarbageQueued   uint64  `json:"garbage_queued"`
	GarbageDeleted  uint64  `json:"garbage_deleted"`
}

// Leader names the metadata leader.
type Leader struct {
	ID   string `json:"id"`
	Addr string `json:"addr"`
}

// Peer is one metadata peer.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Leader   bool   `json:"leader"`
	Voter    bool   `json:"voter"`
}

// Node is one data node.
type Node struct {
	ID            string `json:"id"`
	Addr          string `json:"addr"`
	Zone          string `json:"zone,omitempty"`
	Rack          string `json:"rack,omitempty"`
	State         string `json:"state"`
	Capacity      int64  `json:"capacity"`
	Used          int64  `json:"used"`
	Chunks        uint64 `json:"chunks"`
	LastHeartbeat string `json:"last_heartbeat,omitempty"` // RFC 3339, UTC
	HealthDetail  string `json:"health_detail,omitempty"`
	Encrypted     bool   `json:"encrypted"` // stores chunks encrypted at rest
	Free          int64  `json:"free"`      // bytes it can still write
	Full          bool   `json:"full"`      // below its reserve: no new chunks
	Slow          bool   `json:"slow"`      // recently stalled a transfer: placement prefers others
}

func newCluster(st *client.ClusterStatus) *Cluster {
	out := &Cluster{Leader: Leader{ID: st.LeaderID, Addr: st.LeaderAddr}, Peers: []Peer{}, Nodes: []Node{},
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex}
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, Peer{ID: p.ID, RaftAddr: p.RaftAddr, APIAddr: p.APIAddr, Leader: p.Leader, Voter: p.Voter})
	}
	if r := st.Repair; r != nil {
		out.Repair = &Repair{Queued: r.Queued, InFlight: r.InFlight, Repaired: r.Repaired, Failed: r.Failed,
			BytesMoved: r.BytesMoved, BytesPerSecond: r.BytesPerSecond, ETASeconds: r.ETA.Seconds(),
			RebalanceQueued: r.RebalanceQueued, RebalanceMoved: r.RebalanceMoved,
			GarbageQueued: r.GarbageQueued, GarbageDeleted: r.GarbageDeleted}
	}
	for _, n := range st.Nodes {
		node := Node{ID: string(n.ID), Addr: n.Addr, Zone: n.Zone, Rack: n.Rack, State: n.State.String(), Capacity: n.Capacity,
			Used: n.Used, Chunks: n.Chunks, HealthDetail: n.HealthDetail, Encrypted: n.Encrypted,
			Free: n.Free, Full: n.Full, Slow: n.Slow}
		if !n.LastHeartbeat.IsZero() {
			node.LastHeartbeat = n.LastHeartbeat.UTC().Format(time.RFC3339Nano)
		}
		out.Nodes = append(out.Nodes, node)
	}
	return out
}
