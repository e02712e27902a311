// Package checksum computes the CRC32C (Castagnoli) checksums Cairn uses on
// every hop, and combines the CRCs of adjacent byte ranges into the CRC of
// their concatenation, so a whole-file checksum is composed from per-chunk
// checksums without another pass over the bytes.
package checksum

import "hash/crc32"

// Table is the Castagnoli table; hash/crc32 uses SSE4.2 / ARM64 CRC
// instructions for it.
var Table = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC32C of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, Table) }

// Update continues crc over b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, Table, b) }

// Combine returns the CRC32C of A||B given crcA = CRC32C(A), crcB = CRC32C(B)
// and lenB = len(B). It works in O(log lenB) by applying the operator
// "append lenB zero bytes" to crcA in GF(2), as zlib's crc32_combine does.
func Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	// odd: operator for one zero bit; even: for two zero bits.
	var even, odd [32]uint32
	odd[0] = castagnoliPoly
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // first pass: one zero byte
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

// castagnoliPoly is the reversed Castagnoli polynomial.
const castagnoliPoly = 0x82f63b78

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := 0; n < 32; n++ {
		square[n] = gf2Times(mat, mat[n])
	}
}
