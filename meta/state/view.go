package state

import (
	"errors"

	"github.com/cockroachdb/pebble"
	"google.golang.org/protobuf/proto"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// View reads the state: either one consistent point in time
// (Machine.View) or the live database (Machine.Latest). Reads never
// change anything; a failing database is reported as Internal.
type View struct {
	r     reader
	close func() error
}

// Close releases a point-in-time view; on a live view it does nothing.
func (v *View) Close() {
	if v.close != nil {
		_ = v.close() // a snapshot that fails to close only leaks memory
	}
}

// Stat resolves a clean absolute path from the root: the attributes of its
// final component, or NotFound / NotDir naming the component that failed.
// A directory with a quota comes with its limits and usage.
func (v *View) Stat(path string) (*pb.Attr, error) {
	a, err := resolve(v.r, path)
	return addQuota(v.r, a, err)
}

// Attr returns the attributes of inode ino (with its quota and usage, for
// a directory that has a quota), or NotFound.
func (v *View) Attr(ino cairn.InodeID) (*pb.Attr, error) {
	a, err := getAttr(v.r, ino)
	return addQuota(v.r, a, err)
}

// List calls fn for each entry of directory ino in name order, starting
// after startAfter, until fn returns false or an error (which List returns).
func (v *View) List(ino cairn.InodeID, startAfter string, fn func(name string, de *pb.Dirent) (bool, error)) error {
	return listDir(v.r, ino, startAfter, fn)
}

// Chunks calls fn for each chunk of file ino overlapping [off, off+n) in
// offset order (n < 0 means to the end), until fn returns an error.
func (v *View) Chunks(ino cairn.InodeID, off, n int64, fn func(*pb.ChunkRef) error) error {
	return fileChunks(v.r, ino, off, n, fn)
}

// Chunk returns where a committed chunk lives; false if no file holds it.
func (v *View) Chunk(id cairn.ChunkID) (*pb.ChunkRecord, bool, error) {
	rec := &pb.ChunkRecord{}
	ok, err := getProto(v.r, locKey(id), rec)
	return rec, ok, err
}

// Released reports whether chunk id is queued for deletion from the data
// nodes (its file dropped it and no file may reference it again).
func (v *View) Released(id cairn.ChunkID) (bool, error) {
	return getProto(v.r, garbageKey(id), &pb.GarbageRecord{})
}

// EachChunk calls fn for every committed chunk with its location record, in
// chunk ID order, until fn returns false.
func (v *View) EachChunk(fn func(id cairn.ChunkID, rec *pb.ChunkRecord) bool) error {
	return eachProto(v.r, []byte{tagLoc}, "repair.scan", func() *pb.ChunkRecord { return &pb.ChunkRecord{} }, func(key []byte, rec *pb.ChunkRecord) bool {
		id, _ := cairn.ChunkIDFromBytes(key[1:])
		return fn(id, rec)
	})
}

// EachGarbage calls fn for every chunk queued for deletion, in chunk ID
// order, until fn returns false. A record that cannot be decoded is passed
// as nil (the collector skips it).
func (v *View) EachGarbage(fn func(id cairn.ChunkID, rec *pb.GarbageRecord) bool) error {
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: []byte{tagGarbage}, UpperBound: []byte{tagGarbage + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		rec := &pb.GarbageRecord{}
		if proto.Unmarshal(it.Value(), rec) != nil {
			rec = nil
		}
		id, _ := cairn.ChunkIDFromBytes(it.Key()[1:])
		if !fn(id, rec) {
			break
		}
	}
	return it.Close()
}

// Upload returns an upload session with the chunks that landed for it, or
// NotFound.
func (v *View) Upload(id string) (*pb.UploadSession, error) { return getUpload(v.r, id) }

// Uploads returns the open sessions for path ("" = all).
func (v *View) Uploads(path string) ([]*pb.UploadSession, error) { return listUploads(v.r, path) }

// AllUploads returns every session record, completion markers included.
func (v *View) AllUploads() ([]*pb.UploadSession, error) { return listAllUploads(v.r) }

// MultipartParts returns an open multipart session (without its chunks)
// and its parts by number; NotFound if there is no such open session.
func (v *View) MultipartParts(id string) (*pb.UploadSession, []*pb.UploadPart, error) {
	s := &pb.UploadSession{}
	ok, err := getProto(v.r, uploadKey(id), s)
	if err != nil {
		return nil, nil, err
	}
	if !ok || !s.Multipart || s.CompletedInode != 0 {
		return nil, nil, cairn.E("upload.parts", cairn.PathArg(id), cairn.NotFound, errors.New("no such multipart upload (it completed, was aborted, or never existed)"))
	}
	parts, err := uploadParts(v.r, id)
	return s, parts, err
}

// SessionChunks returns the chunks held by open upload sessions.
func (v *View) SessionChunks() (map[cairn.ChunkID]bool, error) { return sessionChunks(v.r) }

// Credential returns an access key with its secret, or NotFound.
func (v *View) Credential(accessKey string) (*pb.Credential, error) {
	return getCredential(v.r, accessKey)
}

// Credentials returns every credential with its secret blanked.
func (v *View) Credentials() ([]*pb.Credential, error) { return listCredentials(v.r) }

// CredentialSecrets returns every credential with its secret as stored
// (sealed, on a peer with a secrets key): for the leader's reseal.
func (v *View) CredentialSecrets() ([]*pb.Credential, error) { return credentialSecrets(v.r) }

// SigningKeys returns the capability token signing keys, the newest
// (latest ActiveNs) first: the one that signs is the first already
// active. A cluster that never
// made one (or runs --insecure) has none.
func (v *View) SigningKeys() ([]*pb.SigningKey, error) { return listSigningKeys(v.r) }

// PeerAPI returns the API address a metadata peer recorded ("" if none).
func (v *View) PeerAPI(id string) string {
	info := &pb.PeerInfo{}
	if ok, _ := getProto(v.r, peerKey(id), info); ok {
		return info.ApiAddr
	}
	return ""
}

// Nodes returns every registered data node in ID order.
func (v *View) Nodes() ([]*pb.NodeRecord, error) {
	var out []*pb.NodeRecord
	err := eachProto(v.r, []byte{tagNode}, "registry.reload", func() *pb.NodeRecord { return &pb.NodeRecord{} }, func(_ []byte, rec *pb.NodeRecord) bool {
		out = append(out, rec)
		return true
	})
	return out, err
}

// PathOf rebuilds the path of an inode from its parent links ("" if it is
// gone).
func (v *View) PathOf(ino cairn.InodeID) string { return pathOf(v.r, ino) }
