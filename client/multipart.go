package client

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Multipart uploads (what the S3 gateway builds on): a session collects
// numbered parts of any size, uploaded in any order and in parallel, each
// replaceable until completion, which links the chosen parts' chunks into
// the file in one metadata step. Nothing is copied. Sessions left open are
// aborted by the metadata service after its upload expiry, and their
// chunks collected.

// Upload is an open (or just completed) upload session: a PutFile
// transfer or a multipart upload.
type Upload struct {
	ID          string
	Path        string // the file the session will write
	Multipart   bool   // numbered parts (CreateMultipart), not PutFile chunks
	ChunkSize   int64
	Replication int
	Created     time.Time
	Xattrs      map[string]string // given to the file on completion (multipart)
	// Size and Fingerprint are what PutFile recorded of the local file
	// (its size, and its size and modification time); Landed is how many
	// of its chunks are stored. All are zero for multipart sessions.
	Size        int64
	Fingerprint string
	Landed      int
	// Completed is the inode of the file the session became, once it
	// completed; the metadata service remembers completed sessions for a
	// while so that a retried completion can be answered.
	Completed cairn.InodeID
}

// Part is one uploaded part of a multipart session.
type Part struct {
	Number   int
	Size     int64
	MD5      []byte // as given to SetPartMD5; nil if none was
	Modified time.Time
	Chunks   int
}

// partTarget makes a Writer record a multipart part instead of a file.
type partTarget struct {
	id     string
	number uint32
	md5    []byte
	result *pb.UploadPart
}

// CreateMultipart opens a multipart session that will write path. Xattrs,
// Replication and ChunkSize of opts apply to the file.
func (c *Client) CreateMultipart(ctx context.Context, path string, opts WriteOptions) (*Upload, error) {
	p, err := cairn.CleanPath(path)
	if err != nil {
		return nil, err
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = c.opts.ChunkSize
	}
	req := &pb.CreateUploadRequest{Path: p, Multipart: true, Xattrs: opts.Xattrs, Replication: uint32(opts.Replication),
		ChunkSize: opts.ChunkSize, Mode: pb.CommitMode_COMMIT_OVERWRITE}
	var s *pb.UploadSession
	err = c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		s, err = m.data.CreateUpload(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newUpload(s), nil
}

// CreatePart returns a Writer whose Close records its bytes as part number
// (1 to 2^32-1; front ends may set lower limits, S3 allows 10,000) of multipart
// session id, replacing an earlier upload of that number. Set the part's
// MD5 with SetPartMD5 before Close.
func (c *Client) CreatePart(ctx context.Context, id string, number int, chunkSize int64, replication int) (*Writer, error) {
	if number < 1 || int64(number) > math.MaxUint32 {
		return nil, cairn.E("upload.part", cairn.Invalid, fmt.Errorf("part number %d is not a positive 32-bit number", number))
	}
	w, err := c.Create(ctx, "/", WriteOptions{ChunkSize: chunkSize, Replication: replication})
	if err != nil {
		return nil, err
	}
	w.part = &partTarget{id: id, number: uint32(number)}
	return w, nil
}

// SetPartMD5 sets the MD5 recorded with a part; CompleteMultipart can
// require it to match.
func (w *Writer) SetPartMD5(sum []byte) {
	if w.part != nil {
		w.part.md5 = sum
	}
}

// Part returns the recorded part after a successful Close of a part
// writer; nil for other writers and before.
func (w *Writer) Part() *Part {
	if w.part == nil || w.part.result == nil {
		return nil
	}
	p := newPart(w.part.result)
	return &p
}

func (w *Writer) commitPart() error {
	var off int64
	for _, sc := range w.chunks {
		sc.Chunk.Offset = off
		off += sc.Chunk.Length
	}
	req := &pb.PutUploadPartRequest{Id: w.part.id, Number: w.part.number, Chunks: w.chunks, Md5: w.part.md5, Size: off}
	err := w.c.leader(w.ctx, func(ctx context.Context, m stubs) (err error) {
		w.part.result, err = m.data.PutUploadPart(ctx, req)
		return err
	})
	if err != nil {
		w.err = err
		return err
	}
	w.info = &FileInfo{size: off}
	return nil
}

// ListParts returns a multipart session and its parts in number order;
// NotFound if the session completed, was aborted or never existed.
func (c *Client) ListParts(ctx context.Context, id string) (*Upload, []Part, error) {
	var resp *pb.ListUploadPartsResponse
	err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.ListUploadParts(ctx, &pb.ListUploadPartsRequest{Id: id})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	parts := make([]Part, len(resp.Parts))
	for i, p := range resp.Parts {
		parts[i] = newPart(p)
	}
	return newUpload(resp.Session), parts, nil
}

// CompleteOptions tune CompleteMultipart.
type CompleteOptions struct {
	MinPartSize  int64             // every part but the last must be this big
	Xattrs       map[string]string // added to the session's attributes
	Path         string            // commit here instead of the session's path
	Parents      bool
	ExistingDirs int // as in WriteOptions
}

// CompletePart names one part of the file being assembled.
type CompletePart struct {
	Number int
	MD5    []byte // must match the part's; nil skips the check
}

// CompleteMultipart assembles parts (ascending numbers) into the file.
// Parts not named are released. Retrying after a lost reply answers with
// the file. If it fails, the session is unchanged.
func (c *Client) CompleteMultipart(ctx context.Context, id string, parts []CompletePart, opts CompleteOptions) (*FileInfo, error) {
	req := &pb.CompletePartsRequest{Id: id, MinPartSize: opts.MinPartSize, Xattrs: opts.Xattrs, Path: opts.Path, Parents: opts.Parents,
		ExistingDirs: uint32(opts.ExistingDirs)}
	for _, p := range parts {
		req.Parts = append(req.Parts, &pb.CompletePart{Number: uint32(p.Number), Md5: p.MD5})
	}
	var resp *pb.StatResponse
	err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.CompleteParts(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(opts.Path, resp.Attr), nil
}

// AbortUpload abandons an upload session; its chunks are collected.
func (c *Client) AbortUpload(ctx context.Context, id string) error {
	return c.leader(ctx, func(ctx context.Context, m stubs) error {
		_, err := m.data.AbortUpload(ctx, &pb.AbortUploadRequest{Id: id})
		return err
	})
}

// ListUploads returns the open upload sessions whose path starts with
// prefix ("" = all).
func (c *Client) ListUploads(ctx context.Context, prefix string) ([]*Upload, error) {
	var resp *pb.ListUploadsResponse
	err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		resp, err = m.data.ListUploads(ctx, &pb.ListUploadsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*Upload
	for _, s := range resp.Sessions {
		if strings.HasPrefix(s.Path, prefix) {
			out = append(out, newUpload(s))
		}
	}
	return out, nil
}

// GetUpload returns an upload session; NotFound once it was aborted or
// expired. A completed session is returned with Completed set for as long
// as the metadata service remembers it.
func (c *Client) GetUpload(ctx context.Context, id string) (*Upload, error) {
	var s *pb.UploadSession
	err := c.leader(ctx, func(ctx context.Context, m stubs) (err error) {
		s, err = m.data.GetUpload(ctx, &pb.GetUploadRequest{Id: id})
		return err
	})
	if err != nil {
		return nil, err
	}
	return newUpload(s), nil
}

func newUpload(s *pb.UploadSession) *Upload {
	return &Upload{ID: s.Id, Path: s.Path, Multipart: s.Multipart, ChunkSize: s.ChunkSize, Replication: int(s.Replication),
		Created: unixNano(s.CreatedNs), Xattrs: s.Xattrs, Size: s.Size, Fingerprint: s.Fingerprint, Landed: len(s.Landed),
		Completed: cairn.InodeID(s.CompletedInode)}
}

func newPart(p *pb.UploadPart) Part {
	return Part{Number: int(p.Number), Size: p.Size, MD5: p.Md5, Modified: unixNano(p.MtimeNs), Chunks: int(p.Chunks)}
}
