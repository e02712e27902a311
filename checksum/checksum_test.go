package checksum

import (
	"math/rand/v2"
	"testing"
)

func TestCombineMatchesWholeCRC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {7, 4096}, {65536, 3}, {100000, 99999}} {
		a := make([]byte, sizes[0])
		b := make([]byte, sizes[1])
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		whole := CRC32C(append(append([]byte{}, a...), b...))
		got := Combine(CRC32C(a), CRC32C(b), int64(len(b)))
		if got != whole {
			t.Errorf("sizes %v: Combine = %08x, want %08x", sizes, got, whole)
		}
	}
}

func TestCRC32CKnownValue(t *testing.T) {
	// RFC 3720 B.4: 32 bytes of zeros.
	if got := CRC32C(make([]byte, 32)); got != 0x8a9136aa {
		t.Fatalf("CRC32C(32 zero bytes) = %08x, want 8a9136aa", got)
	}
}

func BenchmarkCombine(b *testing.B) {
	for i := 0; i < b.N; i++ {
		Combine(uint32(i), 0x12345678, 8<<20+int64(i&0xfff))
	}
}
