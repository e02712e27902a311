package cairn

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestChunkIDRoundTrip(t *testing.T) {
	seen := map[ChunkID]bool{}
	for range 100 {
		id := NewChunkID()
		if id.IsZero() {
			t.Fatal("NewChunkID returned the zero ID")
		}
		if seen[id] {
			t.Fatalf("NewChunkID repeated %s", id)
		}
		seen[id] = true
		s := id.String()
		if len(s) != 32 || strings.ToLower(s) != s {
			t.Fatalf("String() = %q, want 32 lower-case hex digits", s)
		}
		back, err := ParseChunkID(s)
		if err != nil || back != id {
			t.Fatalf("ParseChunkID(%q) = %v, %v; want %v", s, back, err, id)
		}
		fromBytes, err := ChunkIDFromBytes(id[:])
		if err != nil || fromBytes != id {
			t.Fatalf("ChunkIDFromBytes = %v, %v; want %v", fromBytes, err, id)
		}
	}
}

func TestChunkIDString(t *testing.T) {
	id := ChunkID{0x00, 0x01, 0xab, 0xff}
	want := "0001abff" + strings.Repeat("0", 24)
	if got := id.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !(ChunkID{}).IsZero() || id.IsZero() {
		t.Error("IsZero is wrong")
	}
	// Upper-case hex is accepted on input.
	got, err := ParseChunkID(strings.ToUpper(want))
	if err != nil || got != id {
		t.Errorf("ParseChunkID(upper) = %v, %v", got, err)
	}
}

func TestParseChunkIDBad(t *testing.T) {
	good := strings.Repeat("ab", 16)
	for _, s := range []string{
		"",
		good[:31],
		good + "0",
		"zz" + good[2:],
		"0x" + good[2:],
		" " + good[1:],
		strings.Repeat("é", 16), // 32 bytes, not hex
	} {
		id, err := ParseChunkID(s)
		if !errors.Is(err, Invalid) {
			t.Errorf("ParseChunkID(%q) = %v, %v; want Invalid", s, id, err)
		}
		if err != nil && !strings.Contains(err.Error(), s) {
			t.Errorf("ParseChunkID(%q) error %q does not mention the input", s, err)
		}
	}
}

func TestChunkIDFromBytesBad(t *testing.T) {
	for _, n := range []int{0, 1, 15, 17, 32} {
		if _, err := ChunkIDFromBytes(make([]byte, n)); !errors.Is(err, Invalid) {
			t.Errorf("ChunkIDFromBytes(%d bytes) = %v, want Invalid", n, err)
		}
	}
}

func TestNodeStateString(t *testing.T) {
	names := map[NodeState]string{NodeAlive: "alive", NodeSuspect: "suspect", NodeDead: "dead", NodeDraining: "draining",
		NodeLeaving: "leaving", NodeUnknown: "unknown"}
	for s, want := range names {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
		back, err := ParseNodeState(want)
		if err != nil || back != s {
			t.Errorf("ParseNodeState(%q) = %v, %v; want %v", want, back, err, s)
		}
	}
	if got := NodeState(42).String(); !strings.Contains(got, "42") {
		t.Errorf("NodeState(42).String() = %q", got)
	}
	for _, bad := range []string{"", "Alive", "NodeState(42)", "gone"} {
		if st, err := ParseNodeState(bad); !errors.Is(err, Invalid) || st != NodeUnknown {
			t.Errorf("ParseNodeState(%q) = %v, %v; want NodeUnknown, Invalid", bad, st, err)
		}
	}
}

func TestChunkIDTime(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 0, 0, 123e6, time.UTC)
	id := newChunkIDAt(at)
	if !id.Time().Equal(at) {
		t.Fatalf("Time() = %v, want %v", id.Time(), at)
	}
	if a, b := NewChunkID(), NewChunkID(); a == b {
		t.Fatal("two IDs in the same millisecond are equal")
	}
}
