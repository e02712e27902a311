// Package volume is a data node's chunk store. Chunks are immutable byte
// strings; the store appends each one, with a header, a CRC32C per fixed-size
// sub-block and a footer, to a large append-only volume file and keeps an
// in-memory index from chunk ID to position (the Haystack / SeaweedFS design).
//
// Put and Delete return only after their record is on stable storage;
// concurrent writers share fsyncs (group commit). Reads verify the CRC of every
// sub-block they touch, so bad bytes are never returned; OpenRange hands out
// aligned raw byte ranges with their CRCs for zero-copy serving, leaving the
// check to the receiver. Open rebuilds the index by scanning every volume:
// a torn record at the end of a volume is cut off, a damaged record in the
// middle is skipped without losing the records after it.
//
// Compaction (Compact, CompactAll, and a background goroutine started by
// Open) rewrites sealed volumes without their garbage while reads and
// writes go on; a crash at any point of it loses no chunk and brings no
// deleted chunk back.
//
// The byte layout is specified in docs/format.md.
package volume
