package s3

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
)

// Multipart uploads are the SDK's multipart sessions: each part streams to
// the data nodes as its own chunks, and completion links them into the
// object without copying a byte. Sessions nobody completes are aborted by
// the metadata service after its upload expiry.

// keyOfSession recovers the S3 key from a session's path.
func keyOfSession(bucket string, s *client.Upload) (string, bool) {
	key, ok := strings.CutPrefix(s.Path, "/"+bucket+"/")
	if !ok || !s.Multipart {
		return "", false
	}
	if k, marker := strings.CutSuffix(key, "/"+markerEntry); marker {
		return k + "/", true
	}
	if key == markerEntry {
		return "", false
	}
	return key, true
}

func (g *Gateway) createUpload(q *request) error {
	if err := g.bucketExists(q); err != nil {
		return err
	}
	meta, err := metaFromHeaders(q.r.Header)
	if err != nil {
		return err
	}
	sse, err := g.sse(q)
	if err != nil {
		return err
	}
	setSSE(q.w, meta, sse)
	s, err := g.store(q.ctx).CreateMultipart(q.ctx, objectPath(q.bucket, q.key), client.WriteOptions{Xattrs: meta})
	if err != nil {
		return err
	}
	writeXML(q.w, initiateMultipartUploadResult{Bucket: q.bucket, Key: q.key, UploadID: s.ID})
	return nil
}

// session finds the upload named by ?uploadId and checks it is this key's.
func (g *Gateway) session(q *request) (*client.Upload, error) {
	id := q.r.URL.Query().Get("uploadId")
	noSuch := errorf("NoSuchUpload", "no multipart upload %q for key %q (it completed, was aborted, or never existed)", id, q.key)
	if id == "" {
		return nil, noSuch
	}
	s, err := g.store(q.ctx).GetUpload(q.ctx, id)
	if cairn.KindOf(err) == cairn.NotFound {
		return nil, noSuch
	}
	if err != nil {
		return nil, err
	}
	if k, ok := keyOfSession(q.bucket, s); !ok || k != q.key || s.Completed != 0 {
		return nil, noSuch
	}
	return s, nil
}

// MaxPartNumber is the highest part number S3 allows. The metadata
// service takes any part number from 1 to 2^32-1; the gateway enforces
// S3's limit before it calls the SDK.
const MaxPartNumber = 10000

// partNumber returns the request's part number, 1..MaxPartNumber.
func partNumber(q *request) (int, error) {
	s := q.r.URL.Query().Get("partNumber")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPartNumber {
		return 0, errorf("InvalidArgument", "partNumber must be an integer from 1 to %d, not %q", MaxPartNumber, s)
	}
	return n, nil
}

func (g *Gateway) uploadPart(q *request) error {
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	length, err := q.contentLength()
	if err != nil {
		return err
	}
	if length > 5<<30 {
		return errorf("EntityTooLarge", "a part may be at most 5 GiB, not %d bytes", length)
	}
	s, err := g.session(q)
	if err != nil {
		return err
	}
	body, err := newBodyReader(q.r.Body, length, q.r.Header.Get("Content-MD5"))
	if err != nil {
		return err
	}
	p, err := g.writePart(q, s, n, func(w *client.Writer) ([]byte, error) {
		if _, err := w.ReadFrom(body); err != nil {
			return nil, err
		}
		return body.sum(), nil
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", `"`+hex.EncodeToString(p.MD5)+`"`)
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// writePart uploads one part; fill writes its bytes and returns their MD5.
func (g *Gateway) writePart(q *request, s *client.Upload, n int, fill func(*client.Writer) ([]byte, error)) (*client.Part, error) {
	w, err := g.store(q.ctx).CreatePart(q.ctx, s.ID, n, s.ChunkSize, s.Replication)
	if err != nil {
		return nil, err
	}
	sum, err := fill(w)
	if err != nil {
		w.Abort()
		return nil, err
	}
	w.SetPartMD5(sum)
	if err := w.Close(); err != nil {
		return nil, toAPI(err, "NoSuchUpload")
	}
	return w.Part(), nil
}

func (g *Gateway) uploadPartCopy(q *request) error {
	n, err := partNumber(q)
	if err != nil {
		return err
	}
	s, err := g.session(q)
	if err != nil {
		return err
	}
	sb, sk, err := copySource(q.r.Header)
	if err != nil {
		return err
	}
	src, err := g.open(q.ctx, sb, sk)
	if err != nil {
		return err
	}
	defer src.Close()
	sfi, _ := src.Stat()
	if err := checkConditions(q.r.Header, etagOf(sfi), sfi.ModTime(), true); err != nil {
		return err
	}
	off, length := int64(0), sfi.Size()
	if rs := q.r.Header.Get("x-amz-copy-source-range"); rs != "" {
		first, last, ok := parseCopyRange(rs)
		if !ok || last >= sfi.Size() {
			return errorf("InvalidArgument", "x-amz-copy-source-range %q must be bytes=first-last within the %d-byte source", rs, sfi.Size())
		}
		off, length = first, last-first+1
	}
	if length > 5<<30 {
		return errorf("EntityTooLarge", "a part may be at most 5 GiB, not %d bytes", length)
	}
	p, err := g.writePart(q, s, n, func(w *client.Writer) ([]byte, error) {
		h := md5.New()
		if _, err := src.WriteRangeTo(io.MultiWriter(w, h), off, length); err != nil {
			return nil, err
		}
		return h.Sum(nil), nil
	})
	if err != nil {
		return err
	}
	writeXML(q.w, copyPartResult{LastModified: isoTime(p.Modified), ETag: `"` + hex.EncodeToString(p.MD5) + `"`})
	return nil
}

// parseCopyRange reads x-amz-copy-source-range, which S3 takes only as
// bytes=first-last (no suffix or open-ended range, nothing clipped).
func parseCopyRange(rs string) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(rs, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	return first, last, err1 == nil && err2 == nil && first >= 0 && first <= last
}

// parseComplete reads CompleteMultipartUpload's part list.
func parseComplete(r io.Reader) ([]client.CompletePart, error) {
	body, err := io.ReadAll(io.LimitReader(r, 4<<20))
	if err != nil {
		return nil, err
	}
	var req completeMultipartUpload
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Parts) == 0 {
		return nil, errorf("MalformedXML", "CompleteMultipartUpload must list at least one Part with PartNumber and ETag")
	}
	parts := make([]client.CompletePart, len(req.Parts))
	for i, p := range req.Parts {
		if i > 0 && p.PartNumber <= req.Parts[i-1].PartNumber {
			return nil, errCode("InvalidPartOrder")
		}
		sum, err := hex.DecodeString(strings.Trim(strings.TrimSpace(p.ETag), `"`))
		if err != nil || len(sum) != md5.Size {
			return nil, errorf("InvalidPart", "part %d: ETag %q is not one this gateway issued", p.PartNumber, p.ETag)
		}
		parts[i] = client.CompletePart{Number: p.PartNumber, MD5: sum}
	}
	return parts, nil
}

func (g *Gateway) completeUpload(q *request) error {
	parts, err := parseComplete(q.r.Body)
	if err != nil {
		return err
	}
	id := q.r.URL.Query().Get("uploadId")
	s, stored, err := g.store(q.ctx).ListParts(q.ctx, id)
	if cairn.KindOf(err) == cairn.NotFound {
		return g.completedAlready(q, id, parts)
	}
	if err != nil {
		return err
	}
	if k, ok := keyOfSession(q.bucket, s); !ok || k != q.key {
		return errorf("NoSuchUpload", "upload %q is not for key %q", id, q.key)
	}
	if err := checkParts(parts, stored, g.cfg.MinPartSize); err != nil {
		return err
	}
	etag := multipartETag(parts)
	fi, err := g.complete(q, id, parts, etag)
	if err != nil {
		return err
	}
	if sse := fi.Xattrs[xSSE]; sse != "" {
		q.w.Header().Set(sseHeader, sse)
	}
	writeXML(q.w, completeMultipartUploadResult{Location: "/" + q.bucket + "/" + q.key, Bucket: q.bucket, Key: q.key, ETag: etagOf(fi)})
	return nil
}

// complete commits the parts where the key maps, making room as a PUT does.
func (g *Gateway) complete(q *request, id string, parts []client.CompletePart, etag string) (*client.FileInfo, error) {
	target := objectPath(q.bucket, q.key)
	for attempt := 0; ; attempt++ {
		fi, err := g.store(q.ctx).CompleteMultipart(q.ctx, id, parts, client.CompleteOptions{MinPartSize: g.cfg.MinPartSize,
			Xattrs: map[string]string{xETag: etag}, Path: target, Parents: true, ExistingDirs: 1})
		if err == nil {
			return fi, nil
		}
		if attempt == 8 {
			return nil, err
		}
		if target, err = g.makeRoom(q.ctx, q.bucket, q.key, target, err); err != nil {
			return nil, err
		}
	}
}

// completedAlready answers a repeated completion whose first reply was
// lost: the metadata service remembers completed sessions for a while.
func (g *Gateway) completedAlready(q *request, id string, parts []client.CompletePart) error {
	noSuch := errorf("NoSuchUpload", "no multipart upload %q (it completed, was aborted, or never existed)", id)
	fi, err := g.store(q.ctx).CompleteMultipart(q.ctx, id, parts, client.CompleteOptions{})
	if err != nil {
		return noSuch
	}
	// Only a retry for the same key may be answered with the object: the
	// upload ID alone says nothing about which key it was for.
	cur, err := g.store(q.ctx).Stat(q.ctx, objectPath(q.bucket, q.key))
	if err == nil && cur.IsDir() && !strings.HasSuffix(q.key, "/") {
		cur, err = g.store(q.ctx).Stat(q.ctx, nestedPath(q.bucket, q.key))
	}
	if err != nil || cur.Inode != fi.Inode {
		return noSuch
	}
	if sse := fi.Xattrs[xSSE]; sse != "" {
		q.w.Header().Set(sseHeader, sse)
	}
	writeXML(q.w, completeMultipartUploadResult{Location: "/" + q.bucket + "/" + q.key, Bucket: q.bucket, Key: q.key, ETag: etagOf(fi)})
	return nil
}

// checkParts validates a completion against the stored parts, with S3's
// error codes.
func checkParts(parts []client.CompletePart, stored []client.Part, minSize int64) error {
	byNum := map[int]client.Part{}
	for _, p := range stored {
		byNum[p.Number] = p
	}
	for i, p := range parts {
		sp, ok := byNum[p.Number]
		if !ok || string(sp.MD5) != string(p.MD5) {
			return errorf("InvalidPart", "part %d was not uploaded, or its ETag does not match the one uploaded", p.Number)
		}
		if i < len(parts)-1 && sp.Size < minSize {
			return errorf("EntityTooSmall", "part %d is %d bytes; every part but the last must be at least %d bytes", p.Number, sp.Size, minSize)
		}
	}
	return nil
}

// multipartETag is S3's: the MD5 of the parts' MD5s, then -N.
func multipartETag(parts []client.CompletePart) string {
	h := md5.New()
	for _, p := range parts {
		h.Write(p.MD5)
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func (g *Gateway) abortUpload(q *request) error {
	s, err := g.session(q)
	if err != nil {
		return err
	}
	if err := g.store(q.ctx).AbortUpload(q.ctx, s.ID); err != nil {
		return toAPI(err, "NoSuchUpload")
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (g *Gateway) listParts(q *request) error {
	id := q.r.URL.Query().Get("uploadId")
	s, parts, err := g.store(q.ctx).ListParts(q.ctx, id)
	if cairn.KindOf(err) == cairn.NotFound {
		return errorf("NoSuchUpload", "no multipart upload %q", id)
	}
	if err != nil {
		return err
	}
	if k, ok := keyOfSession(q.bucket, s); !ok || k != q.key {
		return errorf("NoSuchUpload", "upload %q is not for key %q", id, q.key)
	}
	v := q.r.URL.Query()
	maxParts, marker := 1000, 0
	if m := v.Get("max-parts"); m != "" {
		if maxParts, err = strconv.Atoi(m); err != nil || maxParts < 0 {
			return errorf("InvalidArgument", "max-parts must be a non-negative integer")
		}
		maxParts = min(maxParts, 1000)
	}
	if m := v.Get("part-number-marker"); m != "" {
		if marker, err = strconv.Atoi(m); err != nil {
			return errorf("InvalidArgument", "part-number-marker must be an integer")
		}
	}
	res := listPartsResult{Bucket: q.bucket, Key: q.key, UploadID: id, Initiator: theOwner, Owner: theOwner,
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: maxParts}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(res.Parts) == maxParts {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, part{PartNumber: p.Number, LastModified: isoTime(p.Modified),
			ETag: `"` + hex.EncodeToString(p.MD5) + `"`, Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	writeXML(q.w, res)
	return nil
}

func (g *Gateway) listUploads(q *request) error {
	if err := g.bucketExists(q); err != nil {
		return err
	}
	v := q.r.URL.Query()
	prefix, delim := v.Get("prefix"), v.Get("delimiter")
	keyMarker, idMarker := v.Get("key-marker"), v.Get("upload-id-marker")
	maxUploads := 1000
	if m := v.Get("max-uploads"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 0 {
			return errorf("InvalidArgument", "max-uploads must be a non-negative integer")
		}
		maxUploads = min(n, 1000)
	}
	sessions, err := g.store(q.ctx).ListUploads(q.ctx, "/"+q.bucket+"/")
	if err != nil {
		return err
	}
	type entry struct {
		key string
		s   *client.Upload
	}
	var all []entry
	for _, s := range sessions {
		if k, ok := keyOfSession(q.bucket, s); ok && strings.HasPrefix(k, prefix) {
			all = append(all, entry{k, s})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].key != all[j].key {
			return all[i].key < all[j].key
		}
		return all[i].s.Created.Before(all[j].s.Created)
	})
	res := listMultipartUploadsResult{Bucket: q.bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker, Prefix: prefix,
		Delimiter: delim, MaxUploads: maxUploads}
	lastCP := ""
	for _, e := range all {
		if e.key < keyMarker || (e.key == keyMarker && (idMarker == "" || e.s.ID <= idMarker)) {
			continue
		}
		if delim != "" {
			if i := strings.Index(e.key[len(prefix):], delim); i >= 0 {
				cp := e.key[:len(prefix)+i+len(delim)]
				if cp != lastCP {
					lastCP = cp
					res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: cp})
				}
				continue
			}
		}
		if len(res.Uploads) == maxUploads {
			res.IsTruncated = true
			break
		}
		res.Uploads = append(res.Uploads, upload{Key: e.key, UploadID: e.s.ID, Initiator: theOwner, Owner: theOwner,
			StorageClass: "STANDARD", Initiated: isoTime(e.s.Created)})
		res.NextKeyMarker, res.NextUploadIDMarker = e.key, e.s.ID
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	writeXML(q.w, res)
	return nil
}
