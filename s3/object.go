package s3

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"io"
	"maps"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/cairnhttp"
	"github.com/cairnfs/cairn/client"
)

const maxObjectSize = 5 << 40 // S3's limit

// contentLength is the payload length of an upload, refusing unknown or
// oversized lengths as S3 does.
func (q *request) contentLength() (int64, error) {
	n := q.body.DecodedLength
	if n < 0 {
		return 0, errCode("MissingContentLength")
	}
	if n > maxObjectSize {
		return 0, errorf("EntityTooLarge", "%d bytes is over the 5 TiB object size limit", n)
	}
	return n, nil
}

func (g *Gateway) putObject(q *request) error {
	n, err := q.contentLength()
	if err != nil {
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
	body, err := newBodyReader(q.r.Body, n, q.r.Header.Get("Content-MD5"))
	if err != nil {
		return err
	}
	fi, err := g.write(q.ctx, q.bucket, q.key, meta, func(w *client.Writer) error {
		if _, err := w.ReadFrom(body); err != nil {
			return err
		}
		w.SetXattr(xETag, body.etag())
		return nil
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("ETag", etagOf(fi))
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// write stores an object: fill writes the content into a Writer (and may
// add attributes); the commit then lands the object where its key maps,
// making room if a file or directory is in the way (see names.go).
func (g *Gateway) write(ctx context.Context, bucket, key string, meta map[string]string, fill func(*client.Writer) error) (*client.FileInfo, error) {
	target := objectPath(bucket, key)
	w, err := g.store(ctx).Create(ctx, target, client.WriteOptions{Parents: true, ExistingDirs: 1, Xattrs: meta, ReplaceXattrs: true})
	if err != nil {
		return nil, err
	}
	if err := fill(w); err != nil {
		w.Abort()
		return nil, err
	}
	err = w.Close()
	for attempt := 0; err != nil && attempt < 8; attempt++ {
		if target, err = g.makeRoom(ctx, bucket, key, target, err); err != nil {
			return nil, err
		}
		err = w.CommitTo(target)
	}
	if err != nil {
		return nil, err
	}
	return w.Info(), nil
}

// makeRoom handles a commit that failed because of the namespace's shape:
// the key's path is a directory (write into it instead) or one of its
// parents is a file (nest that file into a directory). It returns where
// to commit next, or the error to give up with.
func (g *Gateway) makeRoom(ctx context.Context, bucket, key, target string, err error) (string, error) {
	switch cairn.KindOf(err) {
	case cairn.IsDir:
		if strings.HasSuffix(key, "/") {
			return "", err
		}
		return nestedPath(bucket, key), nil
	case cairn.NotDir:
		if err := g.nestParents(ctx, bucket, key); err != nil {
			return "", err
		}
		return target, nil
	case cairn.NotFound:
		return "", errorf("NoSuchBucket", "bucket %q does not exist", bucket)
	}
	return "", err
}

// nestParents turns every file on key's path into a directory holding it
// (for a marker key "a/b/", "a/b" is on the path too).
func (g *Gateway) nestParents(ctx context.Context, bucket, key string) error {
	segs := strings.Split(key, "/")
	p := "/" + bucket
	for _, s := range segs[:len(segs)-1] {
		p += "/" + s
		fi, err := g.store(ctx).Stat(ctx, p)
		if cairn.KindOf(err) == cairn.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			if _, err := g.store(ctx).WrapInDir(ctx, p, objEntry); err != nil && cairn.KindOf(err) != cairn.NotFound {
				return err
			}
		}
	}
	return nil
}

// open finds an object's file.
func (g *Gateway) open(ctx context.Context, bucket, key string) (*client.File, error) {
	f, err := g.storeIn(ctx, bucket).Open(ctx, objectPath(bucket, key))
	if cairn.KindOf(err) == cairn.IsDir && !strings.HasSuffix(key, "/") {
		f, err = g.storeIn(ctx, bucket).Open(ctx, nestedPath(bucket, key))
	}
	if cairn.KindOf(err) == cairn.NotFound || cairn.KindOf(err) == cairn.NotDir || cairn.KindOf(err) == cairn.IsDir {
		return nil, g.missing(ctx, bucket, key)
	}
	return f, err
}

// missing says whether the key or the whole bucket is missing.
func (g *Gateway) missing(ctx context.Context, bucket, key string) error {
	if fi, err := g.store(ctx).Stat(ctx, "/"+bucket); err != nil || !fi.IsDir() {
		return errorf("NoSuchBucket", "bucket %q does not exist", bucket)
	}
	return errorf("NoSuchKey", "no object %q in bucket %q", key, bucket)
}

func (g *Gateway) getObject(q *request) error {
	f, err := g.open(q.ctx, q.bucket, q.key)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, _ := f.Stat()
	if err := checkConditions(q.r.Header, etagOf(fi), fi.ModTime(), false); err != nil {
		setObjectHeaders(q.w.Header(), fi)
		return err
	}
	size := fi.Size()
	off, n, partial, err := parseRange(q.r.Header.Get("Range"), size)
	if err != nil {
		q.w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return err
	}
	h := q.w.Header()
	before := h.Clone()
	setObjectHeaders(h, fi)
	overrideHeaders(h, q.r.URL.Query())
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(size, 10))
		status = http.StatusPartialContent
	}
	if q.r.Method == http.MethodHead || n == 0 {
		q.w.WriteHeader(status)
		return nil
	}
	hw := &cairnhttp.HeldStatus{ResponseWriter: q.w}
	hw.WriteHeader(status)
	if _, err := f.WriteRangeTo(hw, off, n); err != nil {
		if !hw.Sent() {
			// Not a byte went out: answer with the error (Corrupt
			// when no replica's bytes match the checksum in metadata)
			// and the headers as they were before the object's.
			clear(h)
			maps.Copy(h, before)
			return err
		}
		// The status is sent: cut the connection so the client sees a
		// short body rather than a silently truncated object.
		g.log.Warn("s3 GET failed mid-stream", "bucket", q.bucket, "key", q.key, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// overrideHeaders applies the response-* query parameters of a GET.
func overrideHeaders(h http.Header, v map[string][]string) {
	for param, header := range map[string]string{"response-content-type": "Content-Type", "response-content-language": "Content-Language",
		"response-expires": "Expires", "response-cache-control": "Cache-Control", "response-content-disposition": "Content-Disposition",
		"response-content-encoding": "Content-Encoding"} {
		if vals := v[param]; len(vals) > 0 {
			h.Set(header, vals[0])
		}
	}
}

// parseRange reads a single "bytes=" range. A malformed or multi-range
// header is ignored (the whole object is sent), as S3 does; a range that
// starts past the end is InvalidRange.
func parseRange(spec string, size int64) (off, n int64, partial bool, err error) {
	rs, ok := strings.CutPrefix(spec, "bytes=")
	if !ok || strings.Contains(rs, ",") {
		return 0, size, false, nil
	}
	first, last, ok := strings.Cut(strings.TrimSpace(rs), "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" { // suffix: the last N bytes
		k, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || k < 0 {
			return 0, size, false, nil
		}
		if k == 0 {
			return 0, 0, false, errorf("InvalidRange", "a suffix range of 0 bytes is not satisfiable")
		}
		if size == 0 {
			return 0, 0, false, errorf("InvalidRange", "no range of an empty object is satisfiable")
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 {
		return 0, size, false, nil
	}
	end := size - 1
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return 0, size, false, nil
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, false, errorf("InvalidRange", "range starts at byte %d of a %d-byte object", start, size)
	}
	return start, end - start + 1, true, nil
}

// checkConditions evaluates If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since (with the x-amz-copy-source- prefix for copies),
// with S3's precedence rules.
func checkConditions(h http.Header, etag string, mtime time.Time, copySource bool) error {
	prefix := ""
	if copySource {
		prefix = "x-amz-copy-source-"
	}
	get := func(name string) string { return h.Get(prefix + name) }
	failed, notModified := errCode("PreconditionFailed"), errCode("NotModified")
	if copySource {
		notModified = failed
	}
	mtime = mtime.Truncate(time.Second)
	im, inm := get("If-Match"), get("If-None-Match")
	if im != "" {
		if !etagMatches(im, etag) {
			return failed
		}
	} else if t, ok := httpTime(get("If-Unmodified-Since")); ok && mtime.After(t) {
		return failed
	}
	if inm != "" {
		if etagMatches(inm, etag) {
			return notModified
		}
	} else if t, ok := httpTime(get("If-Modified-Since")); ok && !mtime.After(t) {
		return notModified
	}
	return nil
}

func etagMatches(list, etag string) bool {
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || strings.Trim(e, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

func httpTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

func (g *Gateway) deleteObject(q *request) error {
	if err := g.remove(q.ctx, q.bucket, q.key); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// remove deletes an object (a missing one is not an error, as in S3) and
// then the directories it leaves empty, up to the bucket.
func (g *Gateway) remove(ctx context.Context, bucket, key string) error {
	p := objectPath(bucket, key)
	_, err := g.store(ctx).Remove(ctx, p, client.RemoveOptions{})
	if k := cairn.KindOf(err); (k == cairn.NotEmpty || k == cairn.IsDir) && !strings.HasSuffix(key, "/") {
		p = nestedPath(bucket, key)
		_, err = g.store(ctx).Remove(ctx, p, client.RemoveOptions{})
	}
	switch cairn.KindOf(err) {
	case cairn.NotFound, cairn.NotDir:
		if fi, serr := g.store(ctx).Stat(ctx, "/"+bucket); serr != nil || !fi.IsDir() {
			return errorf("NoSuchBucket", "bucket %q does not exist", bucket)
		}
		return nil
	case cairn.Other:
		if err != nil {
			return err
		}
	default:
		return err
	}
	for dir := path.Dir(p); strings.Count(dir, "/") > 1; dir = path.Dir(dir) {
		if _, err := g.store(ctx).Remove(ctx, dir, client.RemoveOptions{}); err != nil {
			break // not empty (or gone): stop pruning
		}
	}
	return nil
}

var errCopyToItself = errorf("InvalidRequest", "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata")

// copySource parses x-amz-copy-source ("/bucket/key" or "bucket/key",
// URL-encoded, maybe with ?versionId).
func copySource(h http.Header) (bucket, key string, err error) {
	src := h.Get("x-amz-copy-source")
	if i := strings.Index(src, "?"); i >= 0 {
		src = src[:i]
	}
	dec, uerr := pathUnescape(src)
	if uerr != nil {
		return "", "", errorf("InvalidArgument", "x-amz-copy-source %q is not URL-encoded correctly", src)
	}
	bucket, key, _ = strings.Cut(strings.TrimPrefix(dec, "/"), "/")
	if validBucket(bucket) != nil || key == "" {
		return "", "", errorf("InvalidArgument", "x-amz-copy-source must be bucket/key, got %q", src)
	}
	if e := validKey(key); e != nil {
		return "", "", e
	}
	return bucket, key, nil
}

func (g *Gateway) copyObject(q *request) error {
	sb, sk, err := copySource(q.r.Header)
	if err != nil {
		return err
	}
	directive := q.r.Header.Get("x-amz-metadata-directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return errorf("InvalidArgument", "x-amz-metadata-directive must be COPY or REPLACE, not %q", directive)
	}
	if sb == q.bucket && sk == q.key && directive != "REPLACE" {
		return errCopyToItself
	}
	// As S3: the copy's encryption is what this request asks for, whatever
	// the source's was.
	sse, err := g.sse(q)
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
	meta := map[string]string{}
	if directive == "REPLACE" {
		if meta, err = metaFromHeaders(q.r.Header); err != nil {
			return err
		}
	} else {
		for k, v := range sfi.Xattrs {
			if strings.HasPrefix(k, xUserMeta) || strings.HasPrefix(k, xHeader) {
				meta[k] = v
			}
		}
	}
	setSSE(q.w, meta, sse)
	fi, err := g.write(q.ctx, q.bucket, q.key, meta, func(w *client.Writer) error {
		return copyInto(w, src, 0, sfi.Size(), sfi.Xattrs[xETag])
	})
	if err != nil {
		return err
	}
	writeXML(q.w, copyObjectResult{LastModified: isoTime(fi.ModTime()), ETag: etagOf(fi)})
	return nil
}

// copyInto streams [off, off+n) of src into w, reusing the source's ETag
// when the whole single-part object is copied and hashing otherwise.
func copyInto(w *client.Writer, src *client.File, off, n int64, srcETag string) error {
	fi, _ := src.Stat()
	if off == 0 && n == fi.Size() && srcETag != "" && !strings.Contains(srcETag, "-") {
		if _, err := src.WriteRangeTo(w, off, n); err != nil {
			return err
		}
		w.SetXattr(xETag, srcETag)
		return nil
	}
	h := md5.New()
	if _, err := src.WriteRangeTo(io.MultiWriter(w, h), off, n); err != nil {
		return err
	}
	w.SetXattr(xETag, hex.EncodeToString(h.Sum(nil)))
	return nil
}
