package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/cairnfs/cairn/client"
)

// Object metadata is kept in the file's user attributes under these names.
const (
	xETag     = "s3.etag"
	xUserMeta = "s3.m." // + lower-case name of an x-amz-meta-* header
	xHeader   = "s3.h." // + lower-case name of a stored standard header
)

// storedHeaders are the standard headers a PUT may set and GET returns.
var storedHeaders = []string{"Content-Type", "Content-Encoding", "Content-Disposition", "Content-Language",
	"Cache-Control", "Expires"}

const maxUserMeta = 2 << 10 // S3's limit on x-amz-meta-* headers

// metaFromHeaders collects an object's metadata from a PUT's headers.
func metaFromHeaders(h http.Header) (map[string]string, error) {
	m := map[string]string{}
	size := 0
	for name, vals := range h {
		lower := strings.ToLower(name)
		if k, ok := strings.CutPrefix(lower, "x-amz-meta-"); ok {
			v := strings.Join(vals, ",")
			m[xUserMeta+k] = v
			size += len(k) + len(v)
		}
	}
	if size > maxUserMeta {
		return nil, errorf("MetadataTooLarge", "user metadata is %d bytes; the limit is %d", size, maxUserMeta)
	}
	for _, name := range storedHeaders {
		v := h.Get(name)
		if name == "Content-Encoding" {
			v = stripAWSChunked(v)
		}
		if v != "" {
			m[xHeader+strings.ToLower(name)] = v
		}
	}
	return m, nil
}

// stripAWSChunked removes the transfer framing an aws-chunked upload
// names in Content-Encoding; it is not the object's encoding.
func stripAWSChunked(v string) string {
	var keep []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" && p != "aws-chunked" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

// setObjectHeaders writes an object's stored metadata as response headers.
func setObjectHeaders(h http.Header, fi *client.FileInfo) {
	h.Set("ETag", etagOf(fi))
	h.Set("Last-Modified", fi.ModTime().UTC().Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "binary/octet-stream")
	if sse := fi.Xattrs[xSSE]; sse != "" {
		h.Set(sseHeader, sse)
	}
	for k, v := range fi.Xattrs {
		if name, ok := strings.CutPrefix(k, xUserMeta); ok {
			// As S3: the stored (lower-case) name, not canonicalized,
			// which SDKs would hand back as "Color" for x-amz-meta-color.
			h["x-amz-meta-"+name] = []string{v}
		} else if name, ok := strings.CutPrefix(k, xHeader); ok {
			h.Set(name, v)
		}
	}
}

// etagOf returns the quoted ETag of an object. Files written outside the
// gateway have none stored; theirs is derived from the content CRC and
// version, stable until the content changes.
func etagOf(fi *client.FileInfo) string {
	if e := fi.Xattrs[xETag]; e != "" {
		return `"` + e + `"`
	}
	return fmt.Sprintf(`"%08x%08x-cairn"`, fi.CRC32C, fi.Version)
}

// bodyReader hashes an upload once (MD5, for the ETag) while it streams to
// the data nodes, and fails at the end instead of returning io.EOF when
// the body was short or its Content-MD5 does not match: the write is then
// aborted and nothing is committed.
type bodyReader struct {
	r       io.Reader
	md5     hash.Hash
	n, want int64
	wantMD5 []byte
}

func newBodyReader(r io.Reader, length int64, contentMD5 string) (*bodyReader, error) {
	b := &bodyReader{r: r, md5: md5.New(), want: length}
	if contentMD5 != "" {
		sum, err := base64.StdEncoding.DecodeString(contentMD5)
		if err != nil || len(sum) != md5.Size {
			return nil, errorf("InvalidDigest", "Content-MD5 %q is not the base64 of a 16-byte MD5", contentMD5)
		}
		b.wantMD5 = sum
	}
	return b, nil
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.md5.Write(p[:n])
	b.n += int64(n)
	if b.want >= 0 && b.n > b.want {
		return n, errorf("IncompleteBody", "the body is longer than its declared length %d", b.want)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The connection ended early (net/http's error for a body shorter
		// than its Content-Length, passed through for UNSIGNED-PAYLOAD).
		return n, errorf("IncompleteBody", "received %d of %d bytes; the upload was cut short and nothing was stored", b.n, b.want)
	}
	if err == io.EOF {
		if b.want >= 0 && b.n != b.want {
			return n, errorf("IncompleteBody", "received %d of %d bytes; the upload was cut short and nothing was stored", b.n, b.want)
		}
		if b.wantMD5 != nil && string(b.md5.Sum(nil)) != string(b.wantMD5) {
			return n, errorf("BadDigest", "the Content-MD5 you sent does not match the MD5 of the %d bytes received; nothing was stored", b.n)
		}
	}
	return n, err
}

func (b *bodyReader) sum() []byte { return b.md5.Sum(nil) }

func (b *bodyReader) etag() string { return hex.EncodeToString(b.sum()) }
