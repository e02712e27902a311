package state

import (
	"bytes"
	"errors"
	"fmt"
	"maps"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Sessions with parts (multipart sessions; the S3 gateway's multipart
// uploads are one user) hold numbered parts of any size. A part's chunks
// live in the v table under part<<32|index, so reconciliation and expiry
// treat them like any session chunk; its size and MD5 live in the w table.
// Completion links the chosen parts' chunks into the file: nothing is
// copied. The key layout holds a part number in 32 bits, so every number
// from 1 to 2^32-1 is accepted; limits of a protocol built on parts (S3's
// 10,000) are its front end's to enforce.

// multipart applies the commands of multipart sessions: numbered parts
// and their completion.
type multipart struct{ *tx }

func (t multipart) multipartSession(op, id string) (*pb.UploadSession, error) {
	s, err := uploads(t).session(id)
	if err != nil {
		return nil, err
	}
	if !s.Multipart {
		return nil, cairn.E(op, cairn.PathArg(s.Path), cairn.Invalid, errors.New("not a multipart upload session"))
	}
	if s.CompletedInode != 0 {
		return s, cairn.E(op, cairn.PathArg(s.Path), cairn.NotFound, errors.New("the multipart upload already completed"))
	}
	return s, nil
}

// putPart records part req.Number, releasing the chunks of a part it
// replaces.
func (t multipart) putPart(req *pb.PutUploadPartRequest) (*pb.UploadPart, error) {
	s, err := t.multipartSession("upload.part", req.Id)
	if err != nil {
		return nil, err
	}
	if req.Number == 0 {
		return nil, cairn.E("upload.part", cairn.PathArg(s.Path), cairn.Invalid, errors.New("part numbers start at 1"))
	}
	var size int64
	for i, sc := range req.Chunks {
		if _, err := cairn.ChunkIDFromBytes(sc.GetChunk().GetId()); err != nil {
			return nil, err
		}
		if sc.Chunk.Length <= 0 || len(sc.Nodes) == 0 {
			return nil, cairn.E("upload.part", cairn.Invalid, fmt.Errorf("chunk %d of part %d is empty or names no node", i, req.Number))
		}
		size += sc.Chunk.Length
	}
	if size != req.Size {
		return nil, cairn.E("upload.part", cairn.Invalid, fmt.Errorf("part %d: chunks hold %d bytes, the part says %d", req.Number, size, req.Size))
	}
	// A part that alone would not fit the quota is refused now rather
	// than at completion (quota.go).
	if err := t.checkQuota("upload.part", s.Path, usage{bytes: size}, true); err != nil {
		return nil, err
	}
	if err := t.dropPart(req.Id, req.Number, req.Chunks); err != nil {
		return nil, err
	}
	for i, sc := range req.Chunks {
		if err := putProto(t.b, partKey(req.Id, uint64(req.Number)<<32|uint64(i)), sc); err != nil {
			return nil, err
		}
	}
	p := &pb.UploadPart{Number: req.Number, Size: req.Size, Md5: req.Md5, MtimeNs: t.now, Chunks: uint32(len(req.Chunks))}
	return p, putProto(t.b, partInfoKey(req.Id, req.Number), p)
}

// dropPart deletes part number's chunk entries and releases the chunks
// that keep is not reusing.
func (t multipart) dropPart(id string, number uint32, keep []*pb.StoredChunk) error {
	kept := map[string]bool{}
	for _, sc := range keep {
		kept[string(sc.Chunk.Id)] = true
	}
	prefix := multipartChunkPrefix(id, number)
	old, err := storedChunks(t.b, prefix)
	if err != nil {
		return err
	}
	for _, sc := range old {
		if kept[string(sc.Chunk.Id)] {
			continue
		}
		cid, _ := cairn.ChunkIDFromBytes(sc.Chunk.Id)
		if err := t.garbage(cid, sc.Nodes); err != nil {
			return err
		}
	}
	if err := t.b.DeleteRange(prefix, prefixEnd(prefix), nil); err != nil {
		return err
	}
	return t.b.Delete(partInfoKey(id, number), nil)
}

func storedChunks(r reader, prefix []byte) ([]*pb.StoredChunk, error) {
	var out []*pb.StoredChunk
	err := eachProto(r, prefix, "upload.parts", newStoredChunk, func(_ []byte, sc *pb.StoredChunk) bool {
		out = append(out, sc)
		return true
	})
	return out, err
}

// uploadParts lists a multipart session's parts by number.
func uploadParts(r reader, id string) ([]*pb.UploadPart, error) {
	var out []*pb.UploadPart
	err := eachProto(r, partInfoPrefix(id), "upload.parts", func() *pb.UploadPart { return &pb.UploadPart{} }, func(_ []byte, p *pb.UploadPart) bool {
		out = append(out, p)
		return true
	})
	return out, err
}

// complete assembles the named parts into the session's file.
func (t multipart) complete(req *pb.CompletePartsRequest) (*pb.Attr, error) {
	s, err := t.multipartSession("upload.complete", req.Id)
	if s != nil && s.CompletedInode != 0 {
		return uploads(t).completedFile(s) // a retry of a completion that landed
	}
	if err != nil {
		return nil, err
	}
	if len(req.Parts) == 0 {
		return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.Invalid, errors.New("name at least one part"))
	}
	chosen := map[uint32]bool{}
	var chunks []*pb.StoredChunk
	for i, cp := range req.Parts {
		if i > 0 && cp.Number <= req.Parts[i-1].Number {
			return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.Invalid, errors.New("parts must be listed in ascending order of part number"))
		}
		p := &pb.UploadPart{}
		ok, err := getProto(t.b, partInfoKey(req.Id, cp.Number), p)
		if err != nil {
			return nil, err
		}
		if !ok || (len(cp.Md5) > 0 && !bytes.Equal(cp.Md5, p.Md5)) {
			return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.NotFound, fmt.Errorf("part %d was not uploaded or its ETag does not match", cp.Number))
		}
		if i < len(req.Parts)-1 && p.Size < req.MinPartSize {
			return nil, cairn.E("upload.complete", cairn.PathArg(s.Path), cairn.Invalid, fmt.Errorf("part %d is %d bytes; every part but the last must be at least %d", cp.Number, p.Size, req.MinPartSize))
		}
		sc, err := storedChunks(t.b, multipartChunkPrefix(req.Id, cp.Number))
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, sc...)
		chosen[cp.Number] = true
	}
	var off int64
	for _, sc := range chunks {
		sc.Chunk.Offset = off
		off += sc.Chunk.Length
	}
	xattrs := maps.Clone(s.Xattrs)
	if xattrs == nil {
		xattrs = map[string]string{}
	}
	maps.Copy(xattrs, req.Xattrs)
	path := s.Path
	if req.Path != "" {
		path = req.Path
	}
	a, err := namespace(t).commit(&pb.CommitRequest{Path: path, Mode: pb.CommitMode_COMMIT_OVERWRITE, Chunks: chunks, Parents: req.Parents,
		Replication: s.Replication, ChunkSize: s.ChunkSize, Xattrs: xattrs, ReplaceXattrs: true, ExistingDirs: req.ExistingDirs})
	if err != nil {
		return nil, err
	}
	parts, err := uploadParts(t.b, req.Id)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		if !chosen[p.Number] {
			if err := t.dropPart(req.Id, p.Number, nil); err != nil {
				return nil, err
			}
		}
	}
	if err := uploads(t).deleteSession(req.Id); err != nil {
		return nil, err
	}
	done := &pb.UploadSession{Id: s.Id, Path: s.Path, CreatedNs: s.CreatedNs, CompletedInode: a.Inode, Multipart: true}
	return a, putProto(t.b, uploadKey(req.Id), done)
}
