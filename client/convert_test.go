package client

import (
	"reflect"
	"testing"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// The tests below pin the conversions from the wire: every field lands in
// its Cairn-typed counterpart, node states are parsed, and unset
// timestamps stay the zero Time.

func TestNewClusterStatus(t *testing.T) {
	beat := time.Date(2026, 12, 3, 10, 0, 0, 42, time.UTC)
	got := newClusterStatus(&pb.ClusterStatusResponse{
		LeaderId: "m2", LeaderAddr: "10.0.0.2:9090", CommitIndex: 7, AppliedIndex: 6,
		Peers: []*pb.PeerStatus{
			{Id: "m1", RaftAddr: "10.0.0.1:9091", ApiAddr: "10.0.0.1:9090", Voter: true},
			{Id: "m2", RaftAddr: "10.0.0.2:9091", ApiAddr: "10.0.0.2:9090", Leader: true, Voter: true},
		},
		Nodes: []*pb.NodeStatus{
			{Id: "n1", Addr: "10.0.1.1:7070", Zone: "z1", Rack: "r1", State: "draining", Capacity: 100, Used: 40,
				Chunks: 3, LastHeartbeatNs: beat.UnixNano(), HealthDetail: "disk slow"},
			{Id: "n2", State: "something new"},
		},
		Repair: &pb.RepairStatus{Queued: 1, InFlight: 2, Repaired: 3, Failed: 4, BytesMoved: 5, BytesPerSecond: 6.5,
			EtaSeconds: 1.5, LastScanNs: beat.UnixNano(), GarbageQueued: 8, GarbageDeleted: 9, RebalanceQueued: 10, RebalanceMoved: 11},
	})
	want := &ClusterStatus{
		LeaderID: "m2", LeaderAddr: "10.0.0.2:9090", CommitIndex: 7, AppliedIndex: 6,
		Peers: []Peer{
			{ID: "m1", RaftAddr: "10.0.0.1:9091", APIAddr: "10.0.0.1:9090", Voter: true},
			{ID: "m2", RaftAddr: "10.0.0.2:9091", APIAddr: "10.0.0.2:9090", Leader: true, Voter: true},
		},
		Nodes: []NodeStatus{
			{ID: "n1", Addr: "10.0.1.1:7070", Zone: "z1", Rack: "r1", State: cairn.NodeDraining, Capacity: 100, Used: 40,
				Chunks: 3, LastHeartbeat: time.Unix(0, beat.UnixNano()), HealthDetail: "disk slow"},
			{ID: "n2", State: cairn.NodeUnknown},
		},
		Repair: &RepairStatus{Queued: 1, InFlight: 2, Repaired: 3, Failed: 4, BytesMoved: 5, BytesPerSecond: 6.5,
			ETA: 1500 * time.Millisecond, LastScan: time.Unix(0, beat.UnixNano()), GarbageQueued: 8, GarbageDeleted: 9,
			RebalanceQueued: 10, RebalanceMoved: 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newClusterStatus =\n%+v\nwant\n%+v", got, want)
	}
	if !got.Nodes[1].LastHeartbeat.IsZero() {
		t.Errorf("an unset heartbeat converts to %v, want the zero Time", got.Nodes[1].LastHeartbeat)
	}
	if st := newClusterStatus(&pb.ClusterStatusResponse{}); st.Repair != nil {
		t.Errorf("no repair status on the wire became %+v, want nil", st.Repair)
	}
}

func TestNewFsckEntry(t *testing.T) {
	id := cairn.NewChunkID()
	got := newFsckEntry(&pb.FsckResponse{Chunk: id[:], Path: "/f", Offset: 64, Length: 32, Want: 3, Healthy: 1,
		Replicas: []*pb.Replica{{Node: "n1", Addr: "a1"}, {Node: "n2", Addr: "a2"}, {Node: "n3"}},
		States:   []string{"alive", "dead"}}) // one state short: a malformed answer
	want := FsckEntry{Chunk: id, Path: "/f", Offset: 64, Length: 32, Want: 3, Healthy: 1, Replicas: []Replica{
		{Location: cairn.Location{Node: "n1", Addr: "a1"}, State: cairn.NodeAlive},
		{Location: cairn.Location{Node: "n2", Addr: "a2"}, State: cairn.NodeDead},
		{Location: cairn.Location{Node: "n3"}, State: cairn.NodeUnknown},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newFsckEntry =\n%+v\nwant\n%+v", got, want)
	}
}

func TestNewChunk(t *testing.T) {
	id := cairn.NewChunkID()
	md5 := []byte("0123456789abcdef")
	got := newChunk(&pb.ChunkLocation{
		Chunk:    &pb.ChunkRef{Id: id[:], Offset: 8 << 20, Length: 100, Crc32C: 0xdeadbeef, Md5: md5},
		Replicas: []*pb.Replica{{Node: "n1", Addr: "a1", State: "suspect"}, {Node: "gone", State: "unknown"}},
	})
	want := Chunk{ID: id, Offset: 8 << 20, Length: 100, CRC32C: 0xdeadbeef, MD5: md5, Replicas: []Replica{
		{Location: cairn.Location{Node: "n1", Addr: "a1"}, State: cairn.NodeSuspect},
		{Location: cairn.Location{Node: "gone"}, State: cairn.NodeUnknown},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newChunk =\n%+v\nwant\n%+v", got, want)
	}
}

func TestNewUploadAndPart(t *testing.T) {
	created := time.Unix(0, 1_700_000_000_123_456_789)
	got := newUpload(&pb.UploadSession{Id: "u1", Path: "/b/k", Fingerprint: "size=3 mtime=9", ChunkSize: 1 << 20,
		Replication: 2, CreatedNs: created.UnixNano(), Size: 3, Multipart: true, Xattrs: map[string]string{"a": "b"},
		Landed: []*pb.StoredChunk{{}, {}}, CompletedInode: 99})
	want := &Upload{ID: "u1", Path: "/b/k", Multipart: true, ChunkSize: 1 << 20, Replication: 2, Created: created,
		Xattrs: map[string]string{"a": "b"}, Size: 3, Fingerprint: "size=3 mtime=9", Landed: 2, Completed: 99}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("newUpload =\n%+v\nwant\n%+v", got, want)
	}
	p := newPart(&pb.UploadPart{Number: 7, Size: 5 << 20, Md5: []byte{1, 2}, MtimeNs: created.UnixNano(), Chunks: 3})
	if wantP := (Part{Number: 7, Size: 5 << 20, MD5: []byte{1, 2}, Modified: created, Chunks: 3}); !reflect.DeepEqual(p, wantP) {
		t.Errorf("newPart = %+v, want %+v", p, wantP)
	}
}

func TestNewCredential(t *testing.T) {
	created := time.Unix(0, 1_700_000_000_000_000_001)
	got := newCredential(&pb.Credential{AccessKey: "AK", Secret: "sk", Description: "d", CreatedNs: created.UnixNano()})
	if want := (Credential{AccessKey: "AK", Secret: "sk", Description: "d", Created: created}); got != want {
		t.Errorf("newCredential = %+v, want %+v", got, want)
	}
	if got := newCredential(&pb.Credential{AccessKey: "AK"}); !got.Created.IsZero() {
		t.Errorf("an unset creation time converts to %v, want the zero Time", got.Created)
	}
}
