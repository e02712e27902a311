package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// reader is what namespace lookups need: a DB, an indexed batch or a
// snapshot.
type reader interface {
	Get(key []byte) ([]byte, io.Closer, error)
	NewIter(o *pebble.IterOptions) (*pebble.Iterator, error)
}

// getProto reads key into m. It reports false when the key is absent.
func getProto(r reader, key []byte, m proto.Message) (bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, cairn.E("meta.get", cairn.Internal, err)
	}
	defer closer.Close()
	if err := proto.Unmarshal(v, m); err != nil {
		return false, cairn.E("meta.get", cairn.Internal, fmt.Errorf("decoding key %q: %w", key, err))
	}
	return true, nil
}

func getUint64(r reader, key []byte) (uint64, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, cairn.E("meta.get", cairn.Internal, err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, cairn.E("meta.get", cairn.Internal, fmt.Errorf("counter %q has %d bytes", key, len(v)))
	}
	return binary.BigEndian.Uint64(v), nil
}

func putUint64(b *pebble.Batch, key []byte, v uint64) error {
	return b.Set(key, binary.BigEndian.AppendUint64(nil, v), nil)
}

func putProto(b *pebble.Batch, key []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return cairn.E("meta.put", cairn.Internal, err)
	}
	return b.Set(key, v, nil)
}

// getAttr returns the attributes of ino, or NotFound.
func getAttr(r reader, ino cairn.InodeID) (*pb.Attr, error) {
	a := &pb.Attr{}
	ok, err := getProto(r, inodeKey(ino), a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E(cairn.NotFound, fmt.Errorf("inode %d", ino))
	}
	return a, nil
}

// rootAttr is the attribute record of "/" before anything was written.
func rootAttr() *pb.Attr {
	return &pb.Attr{Inode: uint64(cairn.RootInode), Parent: uint64(cairn.RootInode), Dir: true, Mode: 0o755}
}

// resolve walks a clean path from the root. It returns the attributes of the
// final component, or NotFound / NotDir naming the component that failed.
func resolve(r reader, path string) (*pb.Attr, error) { return resolveAs(r, path, principal{}) }

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// listDir calls fn for each entry of directory ino in name order, starting
// after startAfter, until fn returns false.
func listDir(r reader, ino cairn.InodeID, startAfter string, fn func(name string, de *pb.Dirent) (bool, error)) error {
	prefix := direntPrefix(ino)
	lower := prefix
	if startAfter != "" {
		lower = append(direntKey(ino, startAfter), 0)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return cairn.E("meta.list", cairn.Internal, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		de := &pb.Dirent{}
		if err := proto.Unmarshal(it.Value(), de); err != nil {
			return cairn.E("meta.list", cairn.Internal, err)
		}
		more, err := fn(string(it.Key()[len(prefix):]), de)
		if err != nil || !more {
			return err
		}
	}
	return it.Error()
}

// dirEmpty reports whether directory ino has no entries.
func dirEmpty(r reader, ino cairn.InodeID) (bool, error) {
	empty := true
	err := listDir(r, ino, "", func(string, *pb.Dirent) (bool, error) {
		empty = false
		return false, nil
	})
	return empty, err
}

// fileChunks calls fn for each chunk of file ino overlapping [off, off+n)
// in offset order (n < 0 means to the end).
func fileChunks(r reader, ino cairn.InodeID, off, n int64, fn func(*pb.ChunkRef) error) error {
	if n == 0 {
		return nil
	}
	prefix := chunkPrefix(ino)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return cairn.E("meta.chunks", cairn.Internal, err)
	}
	defer it.Close()
	// Start at the last chunk that begins at or before off.
	if !it.SeekLT(chunkKey(ino, off+1)) {
		it.First()
	}
	for ; it.Valid(); it.Next() {
		c := &pb.ChunkRef{}
		if err := proto.Unmarshal(it.Value(), c); err != nil {
			return cairn.E("meta.chunks", cairn.Internal, err)
		}
		if c.Offset+c.Length <= off {
			continue
		}
		if n > 0 && c.Offset >= off+n {
			break
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return it.Error()
}

// eachProto decodes the value of every key that starts with prefix, in key
// order, into a fresh message from newMsg and calls fn with the key and
// the message, until fn returns false. An undecodable value is Internal,
// named by op.
func eachProto[M proto.Message](r reader, prefix []byte, op string, newMsg func() M, fn func(key []byte, m M) bool) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return cairn.E(op, cairn.Internal, err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		m := newMsg()
		if err := proto.Unmarshal(it.Value(), m); err != nil {
			return cairn.E(op, cairn.Internal, fmt.Errorf("decoding key %q: %w", it.Key(), err))
		}
		if !fn(it.Key(), m) {
			break
		}
	}
	return it.Error()
}
