// Package checksum computes the CRC32C (Castagnoli) checksums Cairn uses on
// every hop, and combines the CRCs of adjacent byte ranges into the CRC of
// their concatenation, so a whole-file checksum is composed from per-chunk
// checksums without another pass over the bytes.
package checksum

import (
	"hash/crc32"
	"sync"
)

// Table is the Castagnoli table; hash/crc32 uses SSE4.2 / ARM64 CRC
// instructions for it.
var Table = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC32C of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, Table) }

// Update continues crc over b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, Table, b) }

// castagnoliPoly is the reversed Castagnoli polynomial.
const castagnoliPoly = 0x82f63b78

// zeroOps[k] is the GF(2) operator that appends 2^k zero bytes to a CRC
// register; built once.
var (
	zeroOps     [64][32]uint32
	zeroOpsOnce sync.Once
)

func buildZeroOps() {
	// Operator for one zero bit, then square it up to one zero byte.
	var op [32]uint32
	op[0] = castagnoliPoly
	for n := 1; n < 32; n++ {
		op[n] = 1 << (n - 1)
	}
	for range 3 {
		gf2Square(&op, &op)
	}
	zeroOps[0] = op
	for k := 1; k < 64; k++ {
		gf2Square(&zeroOps[k], &zeroOps[k-1])
	}
}

// Combine returns the CRC32C of A||B given crcA = CRC32C(A), crcB = CRC32C(B)
// and lenB = len(B). It applies the operator "append lenB zero bytes" to
// crcA (as zlib's crc32_combine does) using precomputed powers, so it costs
// one 32×32 bit-matrix product per set bit of lenB.
func Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	zeroOpsOnce.Do(buildZeroOps)
	// The register holds the CRC pre- and post-inverted; the operator works
	// on the raw register, and the inversions cancel in the XOR below.
	for k := 0; lenB != 0; k, lenB = k+1, lenB>>1 {
		if lenB&1 != 0 {
			crcA = gf2Times(&zeroOps[k], crcA)
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

// gf2Square sets square = mat × mat. square may be mat itself.
func gf2Square(square, mat *[32]uint32) {
	var out [32]uint32
	for n := 0; n < 32; n++ {
		out[n] = gf2Times(mat, mat[n])
	}
	*square = out
}
