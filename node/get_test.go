package node_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
	"github.com/cairnfs/cairn/volume"
)

// recordHeaderSize is the size of a record header in a volume file
// (docs/format.md): the chunk's data starts right after it.
const recordHeaderSize = 48

func TestGetRanges(t *testing.T) {
	tn := startNode(t, nil)
	const B = testBlockSize
	data := randomBytes(5*B + 123)
	L := int64(len(data))
	id := cairn.NewChunkID()
	putOK(t, tn.Addr, id, data, "")

	for _, tc := range []struct {
		name   string
		off, n int64 // n < 0: no length parameter
	}{
		{"whole", 0, -1},
		{"first block", 0, B},
		{"second block", B, B},
		{"two blocks", B, 2 * B},
		{"inside a block", 100, 50},
		{"across a boundary", B - 10, 20},
		{"one byte", 3*B + 7, 1},
		{"last short block", 5 * B, -1},
		{"inside last block", 5*B + 100, 10},
		{"rest from inside", 2*B + 1, -1},
		{"length past the end", 4*B + 5, 10 * B},
		{"huge length", 10, math.MaxInt64},
		{"last byte", L - 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := fmt.Sprintf("offset=%d", tc.off)
			if tc.n >= 0 {
				q += fmt.Sprintf("&length=%d", tc.n)
			}
			r := getRange(t, tn.Addr, id, q)
			n := L - tc.off
			if tc.n >= 0 {
				n = min(tc.n, n)
			}
			first, last := tc.off/B, (tc.off+n-1)/B
			wantOff, wantEnd := first*B, min((last+1)*B, L)
			if r.ChunkLength != L || r.BlockSize != B {
				t.Errorf("chunk length %d block size %d, want %d %d", r.ChunkLength, r.BlockSize, L, B)
			}
			if r.Off%int64(r.BlockSize) != 0 || r.Off > tc.off || r.Off+r.Length < tc.off+n {
				t.Errorf("range %d+%d is not aligned to %d or does not cover %d+%d", r.Off, r.Length, r.BlockSize, tc.off, n)
			}
			if r.Off != wantOff || r.Off+r.Length != wantEnd || int64(len(r.CRCs)) != last-first+1 {
				t.Errorf("range %d..%d with %d CRCs, want %d..%d with %d", r.Off, r.Off+r.Length, len(r.CRCs), wantOff, wantEnd, last-first+1)
			}
			if err := volume.VerifyBlocks(r.Data, r.BlockSize, r.CRCs); err != nil {
				t.Errorf("VerifyBlocks: %v", err)
			}
			if !bytes.Equal(r.Data, data[r.Off:r.Off+r.Length]) {
				t.Errorf("returned bytes differ from the chunk's bytes %d..%d", r.Off, r.Off+r.Length)
			}
			checkAllCRCs(t, getRange(t, tn.Addr, id, q+"&crcs=all"), r, data)
		})
	}

	for _, q := range []string{"length=0", "offset=10&length=0", fmt.Sprintf("offset=%d", L), fmt.Sprintf("offset=%d&length=5", L+100)} {
		t.Run("empty "+q, func(t *testing.T) {
			r := getRange(t, tn.Addr, id, q)
			if r.Length != 0 || len(r.CRCs) != 0 || len(r.Data) != 0 || r.ChunkLength != L {
				t.Errorf("%+v, want an empty range of a %d-byte chunk", r, L)
			}
		})
	}

	for _, q := range []string{"offset=-1", "offset=abc", "offset=1.5", "length=-5", "length=x", "offset=1&length=-1", "crcs=some", "offset=1&crcs=ALL"} {
		t.Run("bad "+q, func(t *testing.T) {
			resp, err := httpClient.Get(chunkURL(tn.Addr, id) + "?" + q)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			wantError(t, resp, http.StatusBadRequest, cairn.Invalid)
		})
	}

	t.Run("bad id", func(t *testing.T) {
		resp, err := httpClient.Get(chunkURL(tn.Addr, "not-a-chunk-id"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		wantError(t, resp, http.StatusBadRequest, cairn.Invalid)
	})
}

// checkAllCRCs checks a reply to a crcs=all read: the range and bytes of
// the plain read r, preceded by the CRCs of all the chunk's sub-blocks,
// which combine to the chunk's CRC and hold r's CRCs at the range's place.
func checkAllCRCs(t *testing.T, all, r rangeReply, data []byte) {
	t.Helper()
	if all.Off != r.Off || all.Length != r.Length || all.BlockSize != r.BlockSize || !bytes.Equal(all.Data, r.Data) {
		t.Fatalf("crcs=all: range %d+%d (block %d), want %d+%d (block %d) with the same bytes", all.Off, all.Length, all.BlockSize, r.Off, r.Length, r.BlockSize)
	}
	bs := int64(all.BlockSize)
	if n := (int64(len(data)) + bs - 1) / bs; int64(len(all.CRCs)) != n {
		t.Fatalf("crcs=all: %d CRCs, want all %d", len(all.CRCs), n)
	}
	if crc, ok := checksum.CombineBlocks(all.CRCs, bs, int64(len(data))); !ok || crc != checksum.CRC32C(data) {
		t.Errorf("crcs=all: CRCs combine to %08x (%v), want the chunk's %08x", crc, ok, checksum.CRC32C(data))
	}
	first := all.Off / bs
	if !slices.Equal(all.CRCs[first:first+int64(len(r.CRCs))], r.CRCs) {
		t.Errorf("crcs=all: CRCs from block %d differ from the plain read's", first)
	}
}

// TestGetPastEndHugeLength reads at the end of a chunk with a length so
// large that offset+length overflows int64. docs/protocol.md: an offset at
// or past the end is 200 with an empty range, whatever the length.
func TestGetPastEndHugeLength(t *testing.T) {
	tn := startNode(t, nil)
	data := randomBytes(1000)
	id := cairn.NewChunkID()
	putOK(t, tn.Addr, id, data, "")
	resp, err := httpClient.Get(chunkURL(tn.Addr, id) + fmt.Sprintf("?offset=%d&length=%d", len(data)+1, int64(math.MaxInt64)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET at offset past the end with length MaxInt64 answers %d, want 200 with an empty range: "+
			"node.get computes off+n1, which overflows; compare n1 > info.Length-off instead", resp.StatusCode)
	}
	r := getRange(t, tn.Addr, id, fmt.Sprintf("offset=%d&length=%d", len(data)+1, int64(math.MaxInt64)))
	if r.Length != 0 || len(r.Data) != 0 {
		t.Errorf("%+v, want an empty range", r)
	}
}

// TestGetCorruptOnDisk flips a byte of a stored chunk in its volume file.
// The node sends the stored CRCs and the raw bytes without checking them,
// so the receiver's check must catch the damage; the store's own Verify
// reports it as Corrupt.
func TestGetCorruptOnDisk(t *testing.T) {
	tn := startNode(t, nil)
	const B = testBlockSize
	data := randomBytes(4*B + 10)
	id := cairn.NewChunkID()
	putOK(t, tn.Addr, id, data, "")

	info, err := tn.Store().Stat(id)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tn.Dir, "volumes", fmt.Sprintf("%08d.vol", info.Volume))
	if m, _ := filepath.Glob(filepath.Join(tn.Dir, "volumes", "*.vol")); len(m) != 1 || m[0] != path {
		t.Fatalf("volume files %v, want just %s", m, path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	const flipAt = B + 100 // in block 1
	at := info.Offset + recordHeaderSize + flipAt
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, at); err != nil {
		t.Fatal(err)
	}
	if b[0] != data[flipAt] {
		t.Fatalf("byte at %d of %s is %#x, want the chunk's byte %#x: record layout differs from docs/format.md", at, path, b[0], data[flipAt])
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, at); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	r := getRange(t, tn.Addr, id, "")
	if int64(len(r.Data)) != int64(len(data)) || bytes.Equal(r.Data, data) {
		t.Fatalf("GET returned %d bytes, equal to the original: %v; want the damaged bytes", len(r.Data), bytes.Equal(r.Data, data))
	}
	if err := volume.VerifyBlocks(r.Data, r.BlockSize, r.CRCs); !errors.Is(err, cairn.Corrupt) {
		t.Errorf("VerifyBlocks of the damaged chunk: %v, want Corrupt", err)
	}
	// Blocks the damage does not touch still read and verify.
	r = getRange(t, tn.Addr, id, fmt.Sprintf("offset=%d&length=%d", 2*B, B))
	if err := volume.VerifyBlocks(r.Data, r.BlockSize, r.CRCs); err != nil {
		t.Errorf("VerifyBlocks of an undamaged block: %v", err)
	}
	r = getRange(t, tn.Addr, id, fmt.Sprintf("offset=%d&length=1", flipAt))
	if err := volume.VerifyBlocks(r.Data, r.BlockSize, r.CRCs); !errors.Is(err, cairn.Corrupt) {
		t.Errorf("VerifyBlocks of the damaged block alone: %v, want Corrupt", err)
	}
	if err := tn.Store().Verify(id); !errors.Is(err, cairn.Corrupt) {
		t.Errorf("Store.Verify: %v, want Corrupt", err)
	}
	if _, err := tn.Store().ReadAt(id, make([]byte, 10), flipAt); !errors.Is(err, cairn.Corrupt) {
		t.Errorf("Store.ReadAt of the damaged block: %v, want Corrupt", err)
	}
}
