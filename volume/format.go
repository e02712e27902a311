package volume

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// On-disk layout; docs/format.md describes every byte.
const (
	superMagic     = "CAIRNVOL"
	formatVersion  = 1
	superblockSize = 64

	headerSize  = 48
	footerSize  = 8
	recordAlign = 8

	headerMagic uint32 = 0x486e7263 // "crnH" on disk
	footerMagic uint32 = 0x466e7263 // "crnF" on disk

	kindChunk     = 1
	kindTombstone = 2

	minBlockLog = 9  // 512 B
	maxBlockLog = 24 // 16 MiB

	// MaxChunkSize is the largest chunk a Store accepts.
	MaxChunkSize = 1 << 30
)

// superblock is the first 64 bytes of a volume file.
type superblock struct {
	volume    uint64
	created   int64 // unix nanoseconds
	salt      [8]byte
	encrypted bool // a key block follows (crypt.go)
}

// dataStart is the offset of the first record: after the superblock, and
// the key block of an encrypted volume.
func (sb superblock) dataStart() int64 {
	if sb.encrypted {
		return superblockSize + keyBlockSize
	}
	return superblockSize
}

func (sb superblock) encode() []byte {
	b := make([]byte, superblockSize)
	copy(b, superMagic)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	if sb.encrypted {
		binary.LittleEndian.PutUint32(b[12:], sbFlagEncrypted)
	}
	binary.LittleEndian.PutUint64(b[16:], sb.volume)
	binary.LittleEndian.PutUint64(b[24:], uint64(sb.created))
	copy(b[32:40], sb.salt[:])
	binary.LittleEndian.PutUint32(b[60:], checksum.CRC32C(b[:60]))
	return b
}

func decodeSuperblock(b []byte) (superblock, error) {
	var sb superblock
	if len(b) < superblockSize {
		return sb, fmt.Errorf("superblock is %d bytes, want %d", len(b), superblockSize)
	}
	if string(b[:8]) != superMagic {
		return sb, errors.New("bad superblock magic: not a cairn volume file")
	}
	if got, want := checksum.CRC32C(b[:60]), binary.LittleEndian.Uint32(b[60:]); got != want {
		return sb, fmt.Errorf("superblock checksum mismatch: got %08x, stored %08x", got, want)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return sb, fmt.Errorf("format version %d, this build reads version %d", v, formatVersion)
	}
	if f := binary.LittleEndian.Uint32(b[12:]); f&^sbFlagEncrypted != 0 {
		return sb, fmt.Errorf("unknown superblock flags %#x", f)
	}
	sb.encrypted = binary.LittleEndian.Uint32(b[12:])&sbFlagEncrypted != 0
	sb.volume = binary.LittleEndian.Uint64(b[16:])
	sb.created = int64(binary.LittleEndian.Uint64(b[24:]))
	copy(sb.salt[:], b[32:40])
	return sb, nil
}

// seed is the CRC32C state every record CRC of a volume starts from: the CRC
// of the volume's salt. Records copied verbatim from another volume (for
// example a volume file stored as a chunk) therefore never validate here.
func (sb superblock) seed() uint32 { return checksum.CRC32C(sb.salt[:]) }

// header is the fixed 48-byte start of every record.
type header struct {
	kind     uint8
	blockLog uint8 // log2 of the sub-block size; 0 for tombstones
	id       cairn.ChunkID
	length   int64 // data bytes; 0 for tombstones
	seq      uint64
	crc      uint32 // CRC32C of the whole data (the plaintext of a sealed record)
	sealed   bool   // the data is ciphertext and a tag array follows the CRC array
}

func (h header) blockSize() int64 { return 1 << h.blockLog }

// nblocks is the number of sub-blocks and so of entries in the CRC array.
func (h header) nblocks() int64 {
	if h.kind != kindChunk {
		return 0
	}
	return (h.length + h.blockSize() - 1) >> h.blockLog
}

// crcsOff is the offset of the CRC array from the start of the record.
func (h header) crcsOff() int64 { return headerSize + align(h.length, 4) }

// arrLen is the length of the CRC array and, for a sealed record, the tag
// array after it; the footer CRC covers them both.
func (h header) arrLen() int64 {
	if h.sealed {
		return (4 + tagSize) * h.nblocks()
	}
	return 4 * h.nblocks()
}

// tagsOff is the offset of a sealed record's tag array from its start.
func (h header) tagsOff() int64 { return h.crcsOff() + 4*h.nblocks() }

// footerOff is the offset of the footer from the start of the record.
func (h header) footerOff() int64 { return align(h.crcsOff()+h.arrLen(), recordAlign) }

// recordLen is the length of the whole record, a multiple of 8.
func (h header) recordLen() int64 { return h.footerOff() + footerSize }

func align(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

// encode writes the header, including its CRC under seed, into b[:headerSize].
func (h header) encode(b []byte, seed uint32) {
	b = b[:headerSize]
	binary.LittleEndian.PutUint32(b[0:], headerMagic)
	b[4] = h.kind
	b[5] = h.blockLog
	b[6], b[7] = 0, 0
	if h.sealed {
		b[6] = headerFlagSealed
	}
	copy(b[8:24], h.id[:])
	binary.LittleEndian.PutUint64(b[24:], uint64(h.length))
	binary.LittleEndian.PutUint64(b[32:], h.seq)
	binary.LittleEndian.PutUint32(b[40:], h.crc)
	binary.LittleEndian.PutUint32(b[44:], checksum.Update(seed, b[:44]))
}

// decodeHeader parses and validates a record header. The error says which
// check failed; any error means the bytes are not a record start.
func decodeHeader(b []byte, seed uint32) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, fmt.Errorf("header is %d bytes, want %d", len(b), headerSize)
	}
	if m := binary.LittleEndian.Uint32(b); m != headerMagic {
		return h, fmt.Errorf("bad record magic %08x", m)
	}
	if got, want := checksum.Update(seed, b[:44]), binary.LittleEndian.Uint32(b[44:]); got != want {
		return h, fmt.Errorf("header checksum mismatch: got %08x, stored %08x", got, want)
	}
	h.kind, h.blockLog = b[4], b[5]
	copy(h.id[:], b[8:24])
	length := binary.LittleEndian.Uint64(b[24:])
	h.seq = binary.LittleEndian.Uint64(b[32:])
	h.crc = binary.LittleEndian.Uint32(b[40:])
	h.sealed = b[6] == headerFlagSealed && h.kind == kindChunk
	if (b[6] != 0 && !h.sealed) || b[7] != 0 {
		return h, errors.New("reserved header bytes are not zero")
	}
	switch h.kind {
	case kindChunk:
		if h.blockLog < minBlockLog || h.blockLog > maxBlockLog {
			return h, fmt.Errorf("block size 2^%d outside 2^%d..2^%d", h.blockLog, minBlockLog, maxBlockLog)
		}
		if length > MaxChunkSize {
			return h, fmt.Errorf("chunk length %d over the %d limit", length, MaxChunkSize)
		}
	case kindTombstone:
		if h.blockLog != 0 || length != 0 || h.crc != 0 {
			return h, errors.New("tombstone with non-zero block size, length or crc")
		}
	default:
		return h, fmt.Errorf("unknown record kind %d", h.kind)
	}
	h.length = int64(length)
	return h, nil
}

// encodeTrailer returns everything after the data: zero padding to a 4-byte
// boundary, the CRC array, the tag array of a sealed record, zero padding
// to 8 bytes, and the footer, whose CRC covers the encoded header and the
// CRC and tag arrays.
func encodeTrailer(h header, hdr []byte, crcs []uint32, tags []byte, seed uint32) []byte {
	dataEnd := headerSize + h.length
	t := make([]byte, h.recordLen()-dataEnd)
	arr := t[h.crcsOff()-dataEnd:][:h.arrLen()]
	for i, c := range crcs {
		binary.LittleEndian.PutUint32(arr[4*i:], c)
	}
	copy(arr[4*len(crcs):], tags)
	foot := t[h.footerOff()-dataEnd:]
	binary.LittleEndian.PutUint32(foot, footerMagic)
	binary.LittleEndian.PutUint32(foot[4:], checksum.Update(checksum.Update(seed, hdr[:headerSize]), arr))
	return t
}

// checkFooter validates the footer against the encoded header and the raw
// CRC array bytes.
func checkFooter(hdr, arr, foot []byte, seed uint32) error {
	if m := binary.LittleEndian.Uint32(foot); m != footerMagic {
		return fmt.Errorf("bad footer magic %08x", m)
	}
	got := checksum.Update(checksum.Update(seed, hdr[:headerSize]), arr)
	if want := binary.LittleEndian.Uint32(foot[4:]); got != want {
		return fmt.Errorf("footer checksum mismatch: got %08x, stored %08x", got, want)
	}
	return nil
}

// blockCRCs returns the CRC32C of every sub-block of data and of the whole.
func blockCRCs(data []byte, blockLog uint8) ([]uint32, uint32) {
	bs := 1 << blockLog
	crcs := make([]uint32, 0, (len(data)+bs-1)/bs)
	for off := 0; off < len(data); off += bs {
		crcs = append(crcs, checksum.CRC32C(data[off:min(off+bs, len(data))]))
	}
	if len(crcs) == 1 {
		return crcs, crcs[0]
	}
	return crcs, checksum.CRC32C(data)
}

// VerifyBlocks checks b, a run of consecutive sub-blocks of size blockSize
// (the last one may be short), against crcs, one CRC32C per sub-block. It is
// what the receiver of a Range runs over the bytes. A mismatch or a length
// that does not fit the CRCs is a cairn.Corrupt error naming the block.
func VerifyBlocks(b []byte, blockSize int, crcs []uint32) error {
	if blockSize <= 0 {
		return cairn.E("volume.verify", cairn.Invalid, fmt.Errorf("block size %d", blockSize))
	}
	want := (len(b) + blockSize - 1) / blockSize
	if want != len(crcs) {
		return cairn.E("volume.verify", cairn.Corrupt,
			fmt.Errorf("checksum mismatch: %d bytes make %d blocks of %d, but %d block CRCs were given", len(b), want, blockSize, len(crcs)))
	}
	for i, c := range crcs {
		blk := b[i*blockSize : min((i+1)*blockSize, len(b))]
		if got := checksum.CRC32C(blk); got != c {
			return cairn.E("volume.verify", cairn.Corrupt,
				fmt.Errorf("checksum mismatch in block %d: got crc %08x, want %08x; fetch the range again or from another replica", i, got, c))
		}
	}
	return nil
}
