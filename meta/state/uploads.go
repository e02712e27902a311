package state

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Upload sessions record which chunks of a large write have landed, so that
// a client that crashed can continue where it stopped. Chunk i of a session
// covers file bytes [i*chunk_size, (i+1)*chunk_size).

// uploads applies the commands of upload sessions.
type uploads struct{ *tx }

func (t uploads) create(id string, req *pb.CreateUploadRequest) (*pb.UploadSession, error) {
	path, err := cairn.CleanPath(req.Path)
	if err != nil {
		return nil, err
	}
	if id == "" {
		return nil, cairn.E("upload.create", cairn.Invalid, errors.New("missing upload id"))
	}
	if req.ChunkSize <= 0 && !req.Multipart {
		return nil, cairn.E("upload.create", cairn.Invalid, fmt.Errorf("chunk size %d must be positive", req.ChunkSize))
	}
	if req.Size > 0 && !req.Multipart { // an announced size past a quota is refused now (quota.go)
		if err := t.checkQuota("upload.create", path, usage{bytes: req.Size}, req.Mode != pb.CommitMode_COMMIT_APPEND); err != nil {
			return nil, err
		}
	}
	s := &pb.UploadSession{Id: id, Path: path, Fingerprint: req.Fingerprint, ChunkSize: req.ChunkSize,
		Replication: req.Replication, CreatedNs: t.now, Mode: req.Mode, Size: req.Size,
		Multipart: req.Multipart, Xattrs: req.Xattrs, OwnerUid: t.who.uid()}
	return s, putProto(t.b, uploadKey(id), s)
}

func (t uploads) session(id string) (*pb.UploadSession, error) {
	s := &pb.UploadSession{}
	ok, err := getProto(t.b, uploadKey(id), s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E("upload", cairn.PathArg(id), cairn.NotFound, errors.New("no such upload session (it completed, was aborted, or never existed)"))
	}
	if !t.who.super() && t.who.uid() != s.OwnerUid {
		return nil, cairn.E("upload", cairn.PathArg(id), cairn.Permission,
			fmt.Errorf("%s may not use upload session %s of %s: it belongs to uid %d", t.who, id, s.Path, s.OwnerUid))
	}
	return s, nil
}

func (t uploads) addChunks(req *pb.AddUploadChunksRequest) error {
	s, err := t.session(req.Id)
	if err != nil {
		return err
	}
	if s.CompletedInode != 0 {
		return cairn.E("upload.add", cairn.PathArg(s.Path), cairn.Invalid, errors.New("the upload session already completed"))
	}
	if s.Multipart {
		return cairn.E("upload.add", cairn.PathArg(s.Path), cairn.Invalid, errors.New("a multipart session takes parts, not chunks"))
	}
	for _, sc := range req.Chunks {
		c := sc.GetChunk()
		if _, err := cairn.ChunkIDFromBytes(c.GetId()); err != nil {
			return err
		}
		if c.Offset%s.ChunkSize != 0 || c.Length <= 0 || c.Length > s.ChunkSize || len(sc.Nodes) == 0 {
			return cairn.E("upload.add", cairn.Invalid, fmt.Errorf("chunk at offset %d, length %d does not fit chunk size %d", c.Offset, c.Length, s.ChunkSize))
		}
	}
	for _, sc := range req.Chunks {
		key := partKey(req.Id, uint64(sc.Chunk.Offset/s.ChunkSize))
		old := &pb.StoredChunk{}
		ok, err := getProto(t.b, key, old)
		if err != nil {
			return err
		}
		if ok && !bytesEqual(old.Chunk.Id, sc.Chunk.Id) {
			id, _ := cairn.ChunkIDFromBytes(old.Chunk.Id)
			if err := t.garbage(id, old.Nodes); err != nil {
				return err
			}
		}
		if err := putProto(t.b, key, sc); err != nil {
			return err
		}
	}
	return nil
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// parts returns a session's landed chunks in index order.
func parts(r reader, id string) ([]*pb.StoredChunk, []uint64, error) {
	prefix := partPrefix(id)
	var out []*pb.StoredChunk
	var idx []uint64
	err := eachProto(r, prefix, "upload.parts", newStoredChunk, func(key []byte, sc *pb.StoredChunk) bool {
		out = append(out, sc)
		idx = append(idx, binary.BigEndian.Uint64(key[len(prefix):]))
		return true
	})
	return out, idx, err
}

func newStoredChunk() *pb.StoredChunk { return &pb.StoredChunk{} }

func (t uploads) complete(req *pb.CompleteUploadRequest) (*pb.Attr, error) {
	s, err := t.session(req.Id)
	if err != nil {
		return nil, err
	}
	if s.CompletedInode != 0 {
		return t.completedFile(s)
	}
	if s.Multipart {
		return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.Invalid, errors.New("a multipart session is completed with its part list"))
	}
	landed, idx, err := parts(t.b, req.Id)
	if err != nil {
		return nil, err
	}
	var chunks []*pb.StoredChunk
	for i, sc := range landed {
		if idx[i] >= req.ChunkCount {
			continue
		}
		if idx[i] != uint64(len(chunks)) {
			break
		}
		chunks = append(chunks, sc)
	}
	if uint64(len(chunks)) != req.ChunkCount {
		return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.Invalid,
			fmt.Errorf("chunk %d of %d has not landed; upload it (or resume the upload) before completing", len(chunks), req.ChunkCount))
	}
	for i, sc := range chunks[:max(len(chunks)-1, 0)] {
		if sc.Chunk.Length != s.ChunkSize {
			return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.Invalid, fmt.Errorf("chunk %d is %d bytes; only the last chunk may be shorter than %d", i, sc.Chunk.Length, s.ChunkSize))
		}
	}
	a, err := namespace(t).commit(&pb.CommitRequest{Path: s.Path, Mode: s.Mode, Chunks: chunks, Parents: req.Parents,
		Replication: s.Replication, ChunkSize: s.ChunkSize})
	if err != nil {
		return nil, err
	}
	for i, sc := range landed {
		if idx[i] >= req.ChunkCount {
			id, _ := cairn.ChunkIDFromBytes(sc.Chunk.Id)
			if err := t.garbage(id, sc.Nodes); err != nil {
				return nil, err
			}
		}
	}
	if err := t.b.DeleteRange(partPrefix(req.Id), prefixEnd(partPrefix(req.Id)), nil); err != nil {
		return nil, err
	}
	done := &pb.UploadSession{Id: s.Id, Path: s.Path, CreatedNs: s.CreatedNs, CompletedInode: a.Inode}
	return a, putProto(t.b, uploadKey(req.Id), done)
}

// completedFile answers a retry of a completion that landed with the file.
func (t uploads) completedFile(s *pb.UploadSession) (*pb.Attr, error) {
	a, err := t.attr(cairn.InodeID(s.CompletedInode))
	if err != nil {
		return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.NotFound, errors.New("the upload completed, but its file has since been removed"))
	}
	return a, nil
}

func (t uploads) deleteSession(id string) error {
	if err := t.b.DeleteRange(partInfoPrefix(id), prefixEnd(partInfoPrefix(id)), nil); err != nil {
		return err
	}
	if err := t.b.DeleteRange(partPrefix(id), prefixEnd(partPrefix(id)), nil); err != nil {
		return err
	}
	return t.b.Delete(uploadKey(id), nil)
}

func (t uploads) abort(req *pb.AbortUploadRequest) error {
	s, err := t.session(req.Id)
	if err != nil {
		return err
	}
	if s.CompletedInode != 0 {
		// Only the completion marker is left: forget it.
		return t.b.Delete(uploadKey(req.Id), nil)
	}
	landed, _, err := parts(t.b, req.Id)
	if err != nil {
		return err
	}
	for _, sc := range landed {
		id, _ := cairn.ChunkIDFromBytes(sc.Chunk.Id)
		if err := t.garbage(id, sc.Nodes); err != nil {
			return err
		}
	}
	return t.deleteSession(req.Id)
}

// getUpload reads a session with its landed chunks.
func getUpload(r reader, id string) (*pb.UploadSession, error) {
	s := &pb.UploadSession{}
	ok, err := getProto(r, uploadKey(id), s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, cairn.E("upload", cairn.PathArg(id), cairn.NotFound, errors.New("no such upload session"))
	}
	if s.Landed, _, err = parts(r, id); err != nil {
		return nil, err
	}
	return s, nil
}

// listAllUploads returns every session record, completed markers included.
func listAllUploads(r reader) ([]*pb.UploadSession, error) {
	var out []*pb.UploadSession
	err := eachProto(r, []byte{tagUpload}, "upload.list", func() *pb.UploadSession { return &pb.UploadSession{} }, func(_ []byte, s *pb.UploadSession) bool {
		out = append(out, s)
		return true
	})
	return out, err
}

// listUploads returns the open sessions for path ("" = all).
func listUploads(r reader, path string) ([]*pb.UploadSession, error) {
	all, err := listAllUploads(r)
	if err != nil {
		return nil, err
	}
	var out []*pb.UploadSession
	for _, s := range all {
		if s.CompletedInode == 0 && (path == "" || s.Path == path) {
			out = append(out, s)
		}
	}
	return out, nil
}

// sessionChunks returns the chunks held by open upload sessions.
func sessionChunks(r reader) (map[cairn.ChunkID]bool, error) {
	out := map[cairn.ChunkID]bool{}
	err := eachProto(r, []byte{tagPart}, "reconcile", newStoredChunk, func(_ []byte, sc *pb.StoredChunk) bool {
		if id, err := cairn.ChunkIDFromBytes(sc.GetChunk().GetId()); err == nil {
			out[id] = true
		}
		return true
	})
	return out, err
}
