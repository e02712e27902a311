package volume

import (
	"bytes"
	"testing"

	"github.com/cairnfs/cairn/checksum"
)

func TestHeaderRoundTrip(t *testing.T) {
	const seed = 0x12345678
	for _, h := range []header{
		{kind: kindChunk, blockLog: 16, id: testID(1), length: 8 << 20, seq: 7, crc: 0xdeadbeef},
		{kind: kindChunk, blockLog: 12, id: testID(2), length: 0, seq: 1},
		{kind: kindTombstone, id: testID(3), seq: 99},
	} {
		var b [headerSize]byte
		h.encode(b[:], seed)
		got, err := decodeHeader(b[:], seed)
		if err != nil || got != h {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", h, got, err)
		}
		if _, err := decodeHeader(b[:], seed+1); err == nil {
			t.Fatal("header validated under another volume's salt")
		}
		if h.recordLen()%recordAlign != 0 {
			t.Fatalf("record length %d not aligned", h.recordLen())
		}
	}
}

func TestRecordLayout(t *testing.T) {
	// A 10,001-byte chunk in 4 KiB blocks: data ends at 48+10001=10049,
	// CRC array at 10052 (3 CRCs, to 10064), footer at 10064, end 10072.
	h := header{kind: kindChunk, blockLog: 12, length: 10_001}
	if h.nblocks() != 3 || h.crcsOff() != 10052 || h.footerOff() != 10064 || h.recordLen() != 10072 {
		t.Fatalf("layout: %d blocks, crcs at %d, footer at %d, length %d", h.nblocks(), h.crcsOff(), h.footerOff(), h.recordLen())
	}
	if tomb := (header{kind: kindTombstone}); tomb.recordLen() != 56 {
		t.Fatalf("tombstone record is %d bytes, want 56", tomb.recordLen())
	}
}

func TestSuperblockRoundTrip(t *testing.T) {
	sb := superblock{volume: 42, created: 1700000000123456789, salt: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}
	b := sb.encode()
	got, err := decodeSuperblock(b)
	if err != nil || got != sb {
		t.Fatalf("decode(encode) = %+v, %v", got, err)
	}
	b[17] ^= 1
	if _, err := decodeSuperblock(b); err == nil {
		t.Fatal("damaged superblock decoded")
	}
}

func FuzzDecodeHeader(f *testing.F) {
	const seed = 0xC0FFEE
	for _, h := range []header{
		{kind: kindChunk, blockLog: 16, id: testID(1), length: 8 << 20, seq: 7, crc: 0xdeadbeef},
		{kind: kindChunk, blockLog: 9, id: testID(2), length: 1, seq: 1, crc: 5},
		{kind: kindTombstone, id: testID(3), seq: 99},
	} {
		var b [headerSize]byte
		h.encode(b[:], seed)
		f.Add(b[:])
	}
	f.Add(make([]byte, headerSize))
	f.Add([]byte("crnH"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b, seed)
		if err != nil {
			return
		}
		// A header that decodes re-encodes to the same bytes and describes
		// a sane record.
		var again [headerSize]byte
		h.encode(again[:], seed)
		if !bytes.Equal(again[:], b[:headerSize]) {
			t.Fatalf("re-encoding %+v differs", h)
		}
		if h.length < 0 || h.length > MaxChunkSize || h.recordLen() < headerSize+footerSize || h.recordLen()%recordAlign != 0 {
			t.Fatalf("decoded header %+v has record length %d", h, h.recordLen())
		}
		if h.kind == kindChunk && h.nblocks()<<h.blockLog < h.length {
			t.Fatalf("%d blocks do not cover %d bytes", h.nblocks(), h.length)
		}
	})
}

func TestVerifyBlocks(t *testing.T) {
	data := testData(1, 10_000)
	crcs, whole := blockCRCs(data, 12)
	if whole != checksum.CRC32C(data) || len(crcs) != 3 {
		t.Fatalf("blockCRCs: %d crcs, whole %08x", len(crcs), whole)
	}
	if err := VerifyBlocks(data, 4096, crcs); err != nil {
		t.Fatal(err)
	}
	if err := VerifyBlocks(data[:8192], 4096, crcs); err == nil {
		t.Fatal("VerifyBlocks accepted a short range")
	}
}
