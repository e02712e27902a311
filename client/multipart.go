package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairnfs/cairn"
	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// Multipart uploads (what the S3 gateway builds on): a session collects
// numbered parts of any size, uploaded in any order and in parallel, each
// replaceable until completion, which links the chosen parts' chunks into
// the file in one metadata step. Nothing is copied. Sessions left open are
// aborted by the metadata service after its upload expiry, and their
// chunks collected.

// partTarget makes a Writer record a multipart part instead of a file.
type partTarget struct {
	id     string
	number uint32
	md5    []byte
	result *pb.UploadPart
}

// CreateMultipart opens a multipart session that will write path. Xattrs,
// Replication and ChunkSize of opts apply to the file.
func (c *Client) CreateMultipart(ctx context.Context, path string, opts WriteOptions) (*pb.UploadSession, error) {
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
	err = c.leader(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		s, err = m.CreateUpload(ctx, req)
		return err
	})
	return s, err
}

// CreatePart returns a Writer whose Close records its bytes as part number
// of multipart session id, replacing an earlier upload of that number. Set
// the part's MD5 with SetPartMD5 before Close.
func (c *Client) CreatePart(ctx context.Context, id string, number int, chunkSize int64, replication int) (*Writer, error) {
	if number < 1 || number > 10000 {
		return nil, cairn.E("upload.part", cairn.Invalid, fmt.Errorf("part number %d is outside 1..10000", number))
	}
	w, err := c.Create(ctx, "/", WriteOptions{ChunkSize: chunkSize, Replication: replication})
	if err != nil {
		return nil, err
	}
	w.part = &partTarget{id: id, number: uint32(number)}
	return w, nil
}

// SetPartMD5 sets the MD5 recorded with a part (its S3 ETag).
func (w *Writer) SetPartMD5(sum []byte) {
	if w.part != nil {
		w.part.md5 = sum
	}
}

// Part returns the recorded part after a successful Close of a part writer.
func (w *Writer) Part() *pb.UploadPart {
	if w.part == nil {
		return nil
	}
	return w.part.result
}

func (w *Writer) commitPart() error {
	var off int64
	for _, sc := range w.chunks {
		sc.Chunk.Offset = off
		off += sc.Chunk.Length
	}
	req := &pb.PutUploadPartRequest{Id: w.part.id, Number: w.part.number, Chunks: w.chunks, Md5: w.part.md5, Size: off}
	err := w.c.leader(w.ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		w.part.result, err = m.PutUploadPart(ctx, req)
		return err
	})
	if err != nil {
		w.err = err
		return err
	}
	w.info = &FileInfo{size: off}
	return nil
}

// ListParts returns a multipart session and its parts in number order.
func (c *Client) ListParts(ctx context.Context, id string) (*pb.UploadSession, []*pb.UploadPart, error) {
	var resp *pb.ListUploadPartsResponse
	err := c.leader(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		resp, err = m.ListUploadParts(ctx, &pb.ListUploadPartsRequest{Id: id})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return resp.Session, resp.Parts, nil
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
	req := &pb.CompleteMultipartRequest{Id: id, MinPartSize: opts.MinPartSize, Xattrs: opts.Xattrs, Path: opts.Path, Parents: opts.Parents,
		ExistingDirs: uint32(opts.ExistingDirs)}
	for _, p := range parts {
		req.Parts = append(req.Parts, &pb.CompletePart{Number: uint32(p.Number), Md5: p.MD5})
	}
	var resp *pb.StatResponse
	err := c.leader(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		resp, err = m.CompleteMultipart(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newInfo(opts.Path, resp.Attr), nil
}

// AbortUpload abandons an upload session; its chunks are collected.
func (c *Client) AbortUpload(ctx context.Context, id string) error {
	return c.leader(ctx, func(ctx context.Context, m pb.MetaClient) error {
		_, err := m.AbortUpload(ctx, &pb.AbortUploadRequest{Id: id})
		return err
	})
}

// ListUploads returns the open upload sessions whose path starts with
// prefix ("" = all).
func (c *Client) ListUploads(ctx context.Context, prefix string) ([]*pb.UploadSession, error) {
	var resp *pb.ListUploadsResponse
	err := c.leader(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		resp, err = m.ListUploads(ctx, &pb.ListUploadsRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []*pb.UploadSession
	for _, s := range resp.Sessions {
		if strings.HasPrefix(s.Path, prefix) {
			out = append(out, s)
		}
	}
	return out, nil
}

// GetUpload returns an upload session (NotFound once it completed).
func (c *Client) GetUpload(ctx context.Context, id string) (*pb.UploadSession, error) {
	var s *pb.UploadSession
	err := c.leader(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		s, err = m.GetUpload(ctx, &pb.GetUploadRequest{Id: id})
		return err
	})
	return s, err
}

// Nest turns the file at path into a directory that holds it as name.
func (c *Client) Nest(ctx context.Context, path, name string) error {
	return c.leader(ctx, func(ctx context.Context, m pb.MetaClient) error {
		_, err := m.Nest(ctx, &pb.NestRequest{Path: path, Name: name})
		return err
	})
}

// PutS3User stores an S3 access key; with exclusive it fails with Exists
// if the key is taken.
func (c *Client) PutS3User(ctx context.Context, u *pb.S3User, exclusive bool) error {
	if u == nil {
		return cairn.E("s3.user", cairn.Invalid, errors.New("no user"))
	}
	return c.leader(ctx, func(ctx context.Context, m pb.MetaClient) error {
		_, err := m.PutS3User(ctx, &pb.PutS3UserRequest{User: u, Exclusive: exclusive})
		return err
	})
}

// DeleteS3User removes an S3 access key.
func (c *Client) DeleteS3User(ctx context.Context, accessKey string) error {
	return c.leader(ctx, func(ctx context.Context, m pb.MetaClient) error {
		_, err := m.DeleteS3User(ctx, &pb.DeleteS3UserRequest{AccessKey: accessKey})
		return err
	})
}

// ListS3Users lists access keys (secrets are never returned).
func (c *Client) ListS3Users(ctx context.Context) ([]*pb.S3User, error) {
	var resp *pb.ListS3UsersResponse
	err := c.reader(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		resp, err = m.ListS3Users(ctx, &pb.Empty{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp.Users, nil
}

// S3Secret returns an access key with its secret, for a gateway verifying
// signatures. Any metadata peer may answer.
func (c *Client) S3Secret(ctx context.Context, accessKey string) (*pb.S3User, error) {
	var u *pb.S3User
	err := c.meta.Any(ctx, func(ctx context.Context, m pb.MetaClient) (err error) {
		u, err = m.GetS3Secret(ctx, &pb.GetS3SecretRequest{AccessKey: accessKey})
		return err
	})
	return u, err
}
