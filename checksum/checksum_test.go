package checksum

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// castagnoli is the reference: the standard library's own table, not the
// package's.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestCombineCRC32CFixedSizes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][2]int{{0, 0}, {0, 5}, {5, 0}, {1, 1}, {1, 2}, {3, 4}, {7, 4096}, {4096, 7},
		{65536, 3}, {65536, 65536}, {100000, 99999}, {1, 1 << 20}} {
		a, b := randomBytes(r, sizes[0]), randomBytes(r, sizes[1])
		whole := crc32.Checksum(append(append([]byte{}, a...), b...), castagnoli)
		got := CombineCRC32C(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != whole {
			t.Errorf("sizes %v: CombineCRC32C = %08x, want %08x", sizes, got, whole)
		}
	}
}

// TestCombineCRC32CRandomSplits cuts random buffers at random points and
// checks the combination against the CRC of the whole buffer.
func TestCombineCRC32CRandomSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 2000; i++ {
		n := r.IntN(1 << 14)
		if i%100 == 0 {
			n = r.IntN(4 << 20)
		}
		buf := randomBytes(r, n)
		cut := 0
		if n > 0 {
			cut = r.IntN(n + 1)
		}
		a, b := buf[:cut], buf[cut:]
		want := crc32.Checksum(buf, castagnoli)
		got := CombineCRC32C(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(len(b)))
		if got != want {
			t.Fatalf("len %d cut at %d: CombineCRC32C = %08x, want %08x", n, cut, got, want)
		}
	}
}

// TestCombineCRC32CManyPieces folds a buffer cut into many random pieces,
// left to right.
func TestCombineCRC32CManyPieces(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	buf := randomBytes(r, 1<<20)
	for round := 0; round < 20; round++ {
		crc := uint32(0)
		for off := 0; off < len(buf); {
			n := min(r.IntN(70000), len(buf)-off)
			crc = CombineCRC32C(crc, crc32.Checksum(buf[off:off+n], castagnoli), int64(n))
			off += n
		}
		if want := crc32.Checksum(buf, castagnoli); crc != want {
			t.Fatalf("round %d: folded CRC %08x, want %08x", round, crc, want)
		}
	}
}

func TestCombineCRC32CZeroLengths(t *testing.T) {
	for _, crc := range []uint32{0, 1, 0xdeadbeef, 0xffffffff} {
		if got := CombineCRC32C(crc, 0, 0); got != crc {
			t.Errorf("CombineCRC32C(%08x, 0, 0) = %08x, want it unchanged", crc, got)
		}
		if got := CombineCRC32C(crc, 0, -1); got != crc {
			t.Errorf("CombineCRC32C(%08x, 0, -1) = %08x, want it unchanged", crc, got)
		}
	}
	// An empty A: the CRC of A||B is the CRC of B.
	b := []byte("123456789")
	if got, want := CombineCRC32C(0, CRC32C(b), int64(len(b))), CRC32C(b); got != want {
		t.Errorf("empty A: %08x, want %08x", got, want)
	}
}

// TestCombineCRC32CLongZeroRuns checks lengths far beyond the test
// buffers: a run of zero bytes split in two, where the CRC of the parts is
// computed by combining too.
func TestCombineCRC32CLongZeroRuns(t *testing.T) {
	zeros := make([]byte, 1<<16)
	z := CRC32C(zeros)
	// crcOfZeros(n) for n a multiple of 64 KiB, by doubling.
	crcOfZeros := func(blocks int64) uint32 {
		crc, piece, plen := uint32(0), z, int64(len(zeros))
		for ; blocks != 0; blocks >>= 1 {
			if blocks&1 != 0 {
				crc = CombineCRC32C(crc, piece, plen)
			}
			piece = CombineCRC32C(piece, piece, plen)
			plen *= 2
		}
		return crc
	}
	// 3 × 64 KiB computed directly and by combining.
	three := CRC32C(make([]byte, 3<<16))
	if got := crcOfZeros(3); got != three {
		t.Fatalf("zeros: %08x, want %08x", got, three)
	}
	// 1 TiB + 5 × 64 KiB, split at two places, must agree.
	n := int64(1<<24 + 5)
	left, right := int64(1<<23+1), int64(1<<23+4)
	whole := crcOfZeros(n)
	split := CombineCRC32C(crcOfZeros(left), crcOfZeros(right), right<<16)
	if whole != split {
		t.Fatalf("1 TiB of zeros: %08x whole, %08x split", whole, split)
	}
}

func TestCRC32CKnownValue(t *testing.T) {
	// RFC 3720 B.4: 32 bytes of zeros.
	if got := CRC32C(make([]byte, 32)); got != 0x8a9136aa {
		t.Fatalf("CRC32C(32 zero bytes) = %08x, want 8a9136aa", got)
	}
	// The check value of CRC-32C.
	if got := CombineCRC32C(CRC32C([]byte("1234")), CRC32C([]byte("56789")), 5); got != 0xe3069283 {
		t.Fatalf("combined \"123456789\" = %08x, want e3069283", got)
	}
}

func TestCombineBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ bs, n int }{{512, 0}, {512, 1}, {512, 512}, {512, 513}, {4096, 100_000}, {65536, 8 << 20}, {65536, 65536*3 - 1}} {
		buf := randomBytes(r, tc.n)
		var crcs []uint32
		for off := 0; off < tc.n; off += tc.bs {
			crcs = append(crcs, crc32.Checksum(buf[off:min(off+tc.bs, tc.n)], castagnoli))
		}
		got, ok := CombineBlocks(crcs, int64(tc.bs), int64(tc.n))
		if want := crc32.Checksum(buf, castagnoli); !ok || got != want {
			t.Errorf("block %d, length %d: CombineBlocks = %08x, %v; want %08x", tc.bs, tc.n, got, ok, want)
		}
		if tc.n > 0 {
			if _, ok := CombineBlocks(crcs[1:], int64(tc.bs), int64(tc.n)); ok {
				t.Errorf("block %d, length %d: CombineBlocks accepted one CRC too few", tc.bs, tc.n)
			}
		}
		if _, ok := CombineBlocks(append(crcs, 0), int64(tc.bs), int64(tc.n)); ok {
			t.Errorf("block %d, length %d: CombineBlocks accepted one CRC too many", tc.bs, tc.n)
		}
	}
	if _, ok := CombineBlocks(nil, 0, 0); ok {
		t.Error("CombineBlocks accepted block size 0")
	}
}

// BenchmarkCombineCRC32C combines with lengths around a chunk's size
// (about 23 set bits, the worst case in that range).
func BenchmarkCombineCRC32C(b *testing.B) {
	for i := 0; i < b.N; i++ {
		CombineCRC32C(uint32(i), 0x12345678, 8<<20+int64(i&0xfff))
	}
}

// BenchmarkCombineCRC32CBlock combines one 64 KiB sub-block (one set bit).
func BenchmarkCombineCRC32CBlock(b *testing.B) {
	for i := 0; i < b.N; i++ {
		CombineCRC32C(uint32(i), 0x12345678, 64<<10)
	}
}

// BenchmarkCombineBlocks8MiB is what a ranged read of an 8 MiB chunk with
// 64 KiB sub-blocks costs the client: 128 CRCs folded into one.
func BenchmarkCombineBlocks8MiB(b *testing.B) {
	crcs := make([]uint32, 128)
	for i := range crcs {
		crcs[i] = uint32(i) * 0x9e3779b9
	}
	for i := 0; i < b.N; i++ {
		CombineBlocks(crcs, 64<<10, 8<<20)
	}
}
