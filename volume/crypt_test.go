package volume

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cairnfs/cairn"
)

var (
	key1 = bytes.Repeat([]byte{1}, EncryptionKeySize)
	key2 = bytes.Repeat([]byte{2}, EncryptionKeySize)
)

// pattern is data whose plaintext is easy to find in a file: a marker
// repeated.
func pattern(n int) []byte {
	return bytes.Repeat([]byte("PLAINTEXT-MARKER"), n/16)
}

func volumeBytes(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	paths, _ := filepath.Glob(filepath.Join(dir, "*.vol"))
	if len(paths) == 0 {
		t.Fatal("no volume files")
	}
	for _, p := range paths {
		all = append(all, readFile(t, p)...)
	}
	return all
}

func TestEncryptedNoPlaintextOnDisk(t *testing.T) {
	for _, size := range []int{4096, 10_000, 300 << 10} { // one block, several, past inlineLimit
		dir := t.TempDir()
		s := mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
		data := pattern(size)
		mustPut(t, s, testID(1), data)
		checkChunk(t, s, testID(1), data)
		if err := s.Verify(testID(1)); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(volumeBytes(t, dir), []byte("PLAINTEXT-MARKER")) {
			t.Fatalf("%d bytes: the volume file holds plaintext", size)
		}
		s = mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
		checkChunk(t, s, testID(1), data)
		s.Close()
	}
	// The same test would see the pattern without a key: it can fail.
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir})
	mustPut(t, s, testID(1), pattern(4096))
	s.Close()
	if !bytes.Contains(volumeBytes(t, dir), []byte("PLAINTEXT-MARKER")) {
		t.Fatal("the pattern is not found in a plain volume: the check above proves nothing")
	}
}

func TestEncryptedWrongOrMissingKey(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	mustPut(t, s, testID(1), testData(1, 5000))
	s.Close()
	for name, k := range map[string][]byte{"no key": nil, "wrong key": key2} {
		_, err := Open(Options{Dir: dir, Logger: quiet(), EncryptionKey: k})
		if err == nil {
			t.Fatalf("%s: Open succeeded", name)
		}
		if !strings.Contains(err.Error(), volumeName(1)) || !strings.Contains(err.Error(), "--encryption-key-file") {
			t.Errorf("%s: error does not name the volume and the flag: %v", name, err)
		}
		if !strings.Contains(err.Error(), KeyID(key1)) {
			t.Errorf("%s: error does not name the key the volume needs: %v", name, err)
		}
	}
	if _, err := Open(Options{Dir: dir, Logger: quiet(), EncryptionKey: []byte("short")}); !errors.Is(err, cairn.Invalid) {
		t.Errorf("short key: %v, want Invalid", err)
	}
	// A damaged key block is Corrupt, not a wrong key.
	flipByte(t, filepath.Join(dir, volumeName(1)), superblockSize+30)
	if _, err := Open(Options{Dir: dir, Logger: quiet(), EncryptionKey: key1}); !errors.Is(err, cairn.Corrupt) {
		t.Errorf("damaged key block: %v, want Corrupt", err)
	}
}

func TestEncryptedTamperedCiphertext(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	mustPut(t, s, testID(1), testData(1, 10_000))
	mustPut(t, s, testID(2), testData(2, 10_001))
	info, _ := s.Stat(testID(2))
	s.Close()
	path := filepath.Join(dir, volumeName(1))
	flipByte(t, path, info.Offset+headerSize+5000) // second 4 KiB block of chunk 2
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	defer s.Close()
	checkChunk(t, s, testID(1), testData(1, 10_000))
	if _, err := readAll(s, testID(2)); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("read of tampered chunk: %v, want Corrupt", err)
	}
	p := make([]byte, 100)
	if _, err := s.ReadAt(testID(2), p, 100); err != nil || !bytes.Equal(p, testData(2, 10_001)[100:200]) {
		t.Fatalf("ReadAt of an untouched block: %v", err)
	}
	if err := s.Verify(testID(2)); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("Verify (the scrubber's check): %v, want Corrupt", err)
	}
	r, err := s.OpenRange(testID(2), 0, 10_001)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	if _, err := r.WriteTo(&out); !errors.Is(err, cairn.Corrupt) {
		t.Fatalf("Range.WriteTo of tampered chunk: %v, want Corrupt", err)
	}
	if out.Len() >= 10_001 {
		t.Errorf("Range.WriteTo sent all %d bytes of a tampered chunk", out.Len())
	}
	// A flipped tag is caught as well.
	s.Close()
	h := header{kind: kindChunk, blockLog: 12, length: 10_000, sealed: true}
	flipByte(t, path, superblockSize+keyBlockSize+h.tagsOff()+3) // chunk 1, first tag
	s3 := mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	defer s3.Close()
	if _, err := readAll(s3, testID(1)); err == nil {
		t.Fatal("chunk with a flipped tag read without error")
	}
}

func TestEncryptedRangeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	defer s.Close()
	data := testData(7, 3<<20+123)
	mustPut(t, s, testID(1), data)
	r, err := s.OpenChunkRange(testID(1), 5000, 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out bytes.Buffer
	if _, err := r.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data[r.Off:r.Off+r.Length]) {
		t.Fatal("Range.WriteTo returned wrong bytes")
	}
	if err := VerifyBlocks(out.Bytes(), r.BlockSize, r.CRCs); err != nil {
		t.Fatalf("the receiver's check of the plaintext: %v", err)
	}
}

func TestMixedVolumes(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir})
	mustPut(t, s, testID(1), pattern(8192))
	s.Close()
	// Given a key, the store reads the plain volume and writes a new,
	// encrypted one.
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	checkChunk(t, s, testID(1), pattern(8192))
	mustPut(t, s, testID(2), testData(2, 9000))
	if st := s.Stats(); st.Volumes != 2 {
		t.Fatalf("%d volumes, want the plain one and a new encrypted one", st.Volumes)
	}
	s.Close()
	if bytes.Contains(readFile(t, filepath.Join(dir, volumeName(2))), testData(2, 9000)[:64]) {
		t.Fatal("the new volume holds plaintext")
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	checkChunk(t, s, testID(1), pattern(8192))
	checkChunk(t, s, testID(2), testData(2, 9000))
	s.Close()
	// Without the key the store refuses to open at all.
	if _, err := Open(Options{Dir: dir, Logger: quiet()}); err == nil || !strings.Contains(err.Error(), volumeName(2)) {
		t.Fatalf("Open without the key: %v", err)
	}
}

func TestEncryptedCompactionAndRecovery(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, EncryptionKey: key1, MaxVolumeSize: 64 << 10, CompactInterval: -1}
	s := mustOpen(t, opts)
	for i := range 20 {
		mustPut(t, s, testID(i), testData(byte(i), 9000+i))
	}
	for i := 0; i < 20; i += 2 {
		if err := s.Delete(context.Background(), testID(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CompactAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 20; i += 2 {
		checkChunk(t, s, testID(i), testData(byte(i), 9000+i))
		if err := s.Verify(testID(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Append a torn record to the active volume and reopen.
	s.Close()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.vol"))
	active := paths[len(paths)-1]
	f, err := os.OpenFile(active, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(bytes.Repeat([]byte{0x63, 0x72, 0x6e, 0x48}, 30))
	f.Close()
	s = mustOpen(t, opts)
	defer s.Close()
	for i := 1; i < 20; i += 2 {
		checkChunk(t, s, testID(i), testData(byte(i), 9000+i))
	}
	mustPut(t, s, testID(100), testData(100, 5000))
	checkChunk(t, s, testID(100), testData(100, 5000))
	if _, err := readAll(s, testID(0)); !errors.Is(err, cairn.NotFound) {
		t.Fatalf("deleted chunk: %v", err)
	}
}

// TestEncryptedSeqNeverReused: a store with a key moves its sequence
// number far past what it recovered, so a record lost in a crash (whose
// bytes may be on disk) never shares a nonce with a new one.
func TestEncryptedSeqNeverReused(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	mustPut(t, s, testID(1), testData(1, 5000))
	before, _ := s.lookup(testID(1))
	s.Close()
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key1})
	defer s.Close()
	mustPut(t, s, testID(2), testData(2, 5000))
	after, _ := s.lookup(testID(2))
	if after.seq <= before.seq+seqGap {
		t.Fatalf("sequence %d after a restart, want past %d+2^32", after.seq, before.seq)
	}
}

// TestMixedCompaction: compacting a plain volume in a store that now has a
// key keeps it plain (and readable); compacting an encrypted one keeps it
// encrypted under the same data key.
func TestMixedCompaction(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, CompactInterval: -1})
	mustPut(t, s, testID(1), pattern(8192))
	mustPut(t, s, testID(2), testData(2, 8192))
	s.Close()
	opts := Options{Dir: dir, EncryptionKey: key1, CompactInterval: -1}
	s = mustOpen(t, opts)
	mustPut(t, s, testID(3), pattern(8192))
	mustPut(t, s, testID(4), testData(4, 8192))
	for _, id := range []int{2, 4} {
		if err := s.Delete(context.Background(), testID(id)); err != nil {
			t.Fatal(err)
		}
	}
	st1, err := s.Compact(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	// Volume 2 is active; roll past it by reopening and writing.
	s.Close()
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key1, CompactInterval: -1, MaxVolumeSize: 1 << 10})
	mustPut(t, s, testID(5), testData(5, 4096))
	st2, err := s.Compact(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	checkChunk(t, s, testID(1), pattern(8192))
	checkChunk(t, s, testID(3), pattern(8192))
	checkChunk(t, s, testID(5), testData(5, 4096))
	s.Close()
	if !bytes.Contains(readFile(t, filepath.Join(dir, volumeName(st1.NewVolume))), []byte("PLAINTEXT-MARKER")) {
		t.Error("the compacted plain volume is not plain")
	}
	if bytes.Contains(readFile(t, filepath.Join(dir, volumeName(st2.NewVolume))), []byte("PLAINTEXT-MARKER")) {
		t.Error("the compacted encrypted volume holds plaintext")
	}
	s = mustOpen(t, opts)
	defer s.Close()
	for _, id := range []int{1, 3} {
		checkChunk(t, s, testID(id), pattern(8192))
		if err := s.Verify(testID(id)); err != nil {
			t.Fatal(err)
		}
	}
}
