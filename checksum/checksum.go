// Package checksum computes the CRC32C (Castagnoli) checksums Cairn uses on
// every hop, and combines the CRCs of adjacent byte ranges into the CRC of
// their concatenation, so a whole-file checksum is composed from per-chunk
// checksums without another pass over the bytes.
package checksum

import (
	"hash/crc32"
)

// Table is the Castagnoli table; hash/crc32 uses SSE4.2 / ARM64 CRC
// instructions for it.
var Table = crc32.MakeTable(crc32.Castagnoli)

// CRC32C returns the CRC32C of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, Table) }

// Update continues crc over b.
func Update(crc uint32, b []byte) uint32 { return crc32.Update(crc, Table, b) }

// castagnoliPoly is the Castagnoli polynomial in the bit order of the CRC
// register: bit 31 is the coefficient of x^0, bit 0 that of x^31, and x^32
// is implied.
const castagnoliPoly = 0x82f63b78

// one is the polynomial 1 (x^0) in that bit order.
const one = 1 << 31

// pow8 holds x^(8·2^i) mod P for i = 0..62: the factor that appends 2^i
// zero bytes to a CRC register. Every int64 length is a sum of these
// powers.
var pow8 = buildPow8()

func buildPow8() [63]uint32 {
	var t [63]uint32
	t[0] = one >> 8 // x^8
	for i := 1; i < len(t); i++ {
		t[i] = mulMod(t[i-1], t[i-1])
	}
	return t
}

// mulMod returns a·b modulo the Castagnoli polynomial, both operands and
// the result in the register's bit order: for each term of a, from x^0
// up, add b times that power of x, where b is multiplied by x (a shift and
// a conditional reduction) from one term to the next.
func mulMod(a, b uint32) uint32 {
	var p uint32
	for m := uint32(one); m != 0 && a != 0; m >>= 1 {
		if a&m != 0 {
			p ^= b
			a ^= m
		}
		b = b>>1 ^ castagnoliPoly&-(b&1)
	}
	return p
}

// xPow8n returns x^(8n) mod P by square-and-multiply over the bits of n,
// with the squares taken from pow8: at most 63 products, one per set bit.
func xPow8n(n int64) uint32 {
	p := uint32(one)
	for i := 0; n != 0; i, n = i+1, n>>1 {
		if n&1 != 0 {
			p = mulMod(pow8[i], p)
		}
	}
	return p
}

// CombineCRC32C returns the CRC32C of A||B given crcA = CRC32C(A), crcB =
// CRC32C(B) and lenB = len(B), without the bytes. As polynomials over
// GF(2), CRC(A||B) = CRC(A)·x^(8·lenB) ⊕ CRC(B) mod P (the CRC's initial
// and final inversions cancel out of this sum), so the cost is O(log lenB)
// carry-less products, not a pass over B. lenB <= 0 means B is empty: the
// result is crcA.
func CombineCRC32C(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	return mulMod(xPow8n(lenB), crcA) ^ crcB
}

// CombineBlocks returns the CRC32C of a run of length bytes cut into
// blocks of blockSize bytes (the last one possibly shorter), given the
// CRC32C of each block in order. It is CombineCRC32C applied block by
// block, with x^(8·blockSize) computed once: one carry-less product per
// block. It returns ok = false, and no CRC, if len(crcs) is not the number
// of blocks that length and blockSize give.
func CombineBlocks(crcs []uint32, blockSize, length int64) (crc uint32, ok bool) {
	if blockSize <= 0 || length < 0 || int64(len(crcs)) != (length+blockSize-1)/blockSize {
		return 0, false
	}
	if len(crcs) == 0 {
		return 0, true
	}
	shift := xPow8n(blockSize)
	last := len(crcs) - 1
	crc = crcs[0]
	for i := 1; i < last; i++ {
		crc = mulMod(shift, crc) ^ crcs[i]
	}
	if last > 0 {
		crc = CombineCRC32C(crc, crcs[last], length-int64(last)*blockSize)
	}
	return crc, true
}
