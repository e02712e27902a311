package volume

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// Encryption at rest (docs/format.md, "Encryption"). An encrypted volume
// has a key block after its superblock holding the volume's random data
// key, sealed (AES-256-GCM) under the key-encryption key the operator
// gives the store (Options.EncryptionKey). Every sub-block of a sealed
// chunk record is AES-256-GCM ciphertext under the data key; its 16-byte
// tag is stored in a tag array after the record's CRC array, so the data
// keeps its length and offsets, and any sub-block can be read alone.

const (
	// EncryptionKeySize is the length of Options.EncryptionKey.
	EncryptionKeySize = 32

	keyBlockSize = 128
	kekIDSize    = 8
	tagSize      = 16
	nonceSize    = 12

	sbFlagEncrypted uint32 = 1

	// headerFlagSealed in byte 6 of a chunk record header: the data is
	// ciphertext and the record has a tag array.
	headerFlagSealed = 1
)

// wrapAD is the additional data of a sealed data key.
var wrapAD = []byte("cairn volume data key v1")

// kek is the key-encryption key a Store was opened with.
type kek struct {
	aead cipher.AEAD
	id   [kekIDSize]byte // first bytes of the key's SHA-256; not secret
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func newKEK(key []byte) (*kek, error) {
	if len(key) != EncryptionKeySize {
		return nil, fmt.Errorf("Options.EncryptionKey is %d bytes, want %d", len(key), EncryptionKeySize)
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	k := &kek{aead: aead}
	sum := sha256.Sum256(key)
	copy(k.id[:], sum[:])
	return k, nil
}

// KeyID returns the identifier a volume's key block records for key, the
// first 8 bytes of its SHA-256 in hex; it is not secret.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:kekIDSize])
}

// volCrypt is the data key of one encrypted volume.
type volCrypt struct {
	aead  cipher.AEAD
	block []byte // the encoded key block, copied as it is into a compaction's output
}

// newVolumeKey draws a random data key and seals it under k.
func (k *kek) newVolumeKey() (*volCrypt, error) {
	dk := make([]byte, EncryptionKeySize)
	if _, err := rand.Read(dk); err != nil {
		return nil, err
	}
	b := make([]byte, keyBlockSize)
	copy(b, k.id[:])
	nonce := b[kekIDSize : kekIDSize+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	k.aead.Seal(b[kekIDSize+nonceSize:kekIDSize+nonceSize], nonce, dk, wrapAD)
	binary.LittleEndian.PutUint32(b[keyBlockSize-4:], checksum.CRC32C(b[:keyBlockSize-4]))
	aead, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	return &volCrypt{aead: aead, block: b}, nil
}

// unwrap opens the key block b of the volume at path. The errors say what
// the operator has to do: give the node its key, or the right one.
func (k *kek) unwrap(b []byte, path string) (*volCrypt, error) {
	const op = "volume.open"
	if got, want := checksum.CRC32C(b[:keyBlockSize-4]), binary.LittleEndian.Uint32(b[keyBlockSize-4:]); got != want {
		return nil, cairn.E(op, cairn.Corrupt, fmt.Errorf(
			"checksum mismatch: the key block of encrypted volume %s is damaged (crc %08x, stored %08x); its chunks cannot be decrypted, move the file aside to start without it (they will be re-replicated)", path, got, want))
	}
	id := hex.EncodeToString(b[:kekIDSize])
	if k == nil {
		return nil, cairn.E(op, cairn.Invalid, fmt.Errorf(
			"volume %s is encrypted (key %s) and the store has no encryption key; start the node with --encryption-key-file naming the key it was written with", path, id))
	}
	if string(b[:kekIDSize]) != string(k.id[:]) {
		return nil, cairn.E(op, cairn.Invalid, fmt.Errorf(
			"volume %s is encrypted under key %s, but the node's --encryption-key-file holds key %s; start it with the key the volume was written with",
			path, id, hex.EncodeToString(k.id[:])))
	}
	nonce := b[kekIDSize : kekIDSize+nonceSize]
	sealed := b[kekIDSize+nonceSize : kekIDSize+nonceSize+EncryptionKeySize+tagSize]
	dk, err := k.aead.Open(nil, nonce, sealed, wrapAD)
	if err != nil {
		return nil, cairn.E(op, cairn.Corrupt, fmt.Errorf(
			"the data key of encrypted volume %s does not open under key %s: the key block was altered; move the file aside to start without it", path, id))
	}
	aead, err := newGCM(dk)
	if err != nil {
		return nil, err
	}
	return &volCrypt{aead: aead, block: append([]byte(nil), b...)}, nil
}

// nonce is unique per sub-block under one data key: the record's sequence
// number (unique in the store; see Store.recover for why one is never
// handed out twice) and the sub-block's index. A compaction copies records
// with their sequence numbers and their volume's data key, so a copy is
// the same ciphertext under the same nonce.
func nonce(seq uint64, block int64) [nonceSize]byte {
	var n [nonceSize]byte
	binary.LittleEndian.PutUint64(n[:], seq)
	binary.LittleEndian.PutUint32(n[8:], uint32(block))
	return n
}

// seal encrypts data, the whole data of the chunk record h, and returns
// the ciphertext (same length) and the tag array.
func (c *volCrypt) seal(h header, data []byte) (ct, tags []byte) {
	bs := int(h.blockSize())
	// One spare tag's room at the end: each Seal appends its tag after
	// its block, where the next block's ciphertext then goes.
	buf := make([]byte, len(data)+tagSize)
	tags = make([]byte, 0, tagSize*h.nblocks())
	for i, off := int64(0), 0; off < len(data); i, off = i+1, off+bs {
		end := min(off+bs, len(data))
		n := nonce(h.seq, i)
		out := c.aead.Seal(buf[off:off], n[:], data[off:end], h.id[:])
		tags = append(tags, out[end-off:]...)
	}
	return buf[:len(data)], tags
}

// open decrypts in place buf, sub-blocks first.. of the sealed chunk
// record h, checking each against its tag in tags (16 bytes per sub-block
// of buf). A sub-block that fails is cairn.Corrupt naming it.
func (c *volCrypt) open(h header, buf []byte, first int64, tags []byte, where string) error {
	bs := int(h.blockSize())
	scratch := make([]byte, min(bs, len(buf))+tagSize)
	for i, off := 0, 0; off < len(buf); i, off = i+1, off+bs {
		blk := buf[off:min(off+bs, len(buf))]
		in := scratch[:len(blk)+tagSize]
		copy(in, blk)
		copy(in[len(blk):], tags[tagSize*i:])
		no := first + int64(i)
		n := nonce(h.seq, no)
		if _, err := c.aead.Open(blk[:0], n[:], in, h.id[:]); err != nil {
			return cairn.E(pathOf(h.id), cairn.Corrupt, fmt.Errorf(
				"checksum mismatch: block %d (bytes %d..%d) stored in %s fails authenticated decryption; read the chunk from another replica and have it repaired",
				no, no*int64(bs), no*int64(bs)+int64(len(blk)), where))
		}
	}
	return nil
}

// errNoKeyBlock is returned for an encrypted superblock whose key block is
// missing (a file cut short).
var errNoKeyBlock = errors.New("the file ends inside the key block of an encrypted volume")

// seqGap is how far Open moves the sequence number on in a store with an
// encryption key (see Store.recover); 2^32 is more appends than can be in
// flight at a crash, and leaves room for 2^32 restarts.
const seqGap = 1 << 32

// Encrypted reports whether the store has an encryption key, and so
// encrypts every chunk it writes.
func (s *Store) Encrypted() bool { return s.kek != nil }
