package s3_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"

	"github.com/cairnfs/cairn/internal/testcluster"
)

// TestObjectMetadata: PutObject stores x-amz-meta-* and the standard
// headers; GetObject and HeadObject return them with the MD5 ETag.
func TestObjectMetadata(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "meta")
	data := testcluster.RandBytes(3, 100_000)
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	before := time.Now().Add(-2 * time.Second)
	put, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc/report.json"),
		Body: bytes.NewReader(data), ContentType: aws.String("application/json"), ContentEncoding: aws.String("identity"),
		ContentDisposition: aws.String(`attachment; filename="r.json"`), ContentLanguage: aws.String("de-CH"),
		CacheControl: aws.String("max-age=60"), Expires: aws.Time(expires),
		Metadata: map[string]string{"color": "blue", "Multi-Word": "a b  c", "empty": ""}})
	if err != nil {
		t.Fatal(err)
	}
	if unquote(aws.ToString(put.ETag)) != md5hex(data) {
		t.Fatalf("PutObject ETag %s, want %s", aws.ToString(put.ETag), md5hex(data))
	}
	check := func(what string, ct, ce, cd, cl, cc *string, exp *string, meta map[string]string, etag *string, n *int64, lm *time.Time) {
		t.Helper()
		for _, c := range []struct{ name, got, want string }{
			{"Content-Type", aws.ToString(ct), "application/json"}, {"Content-Encoding", aws.ToString(ce), "identity"},
			{"Content-Disposition", aws.ToString(cd), `attachment; filename="r.json"`}, {"Content-Language", aws.ToString(cl), "de-CH"},
			{"Cache-Control", aws.ToString(cc), "max-age=60"}, {"Expires", aws.ToString(exp), expires.Format(http.TimeFormat)},
			{"ETag", unquote(aws.ToString(etag)), md5hex(data)}, {"color", meta["color"], "blue"}, {"multi-word", meta["multi-word"], "a b  c"},
		} {
			if c.got != c.want {
				t.Fatalf("%s: %s %q, want %q", what, c.name, c.got, c.want)
			}
		}
		if aws.ToInt64(n) != int64(len(data)) {
			t.Fatalf("%s: Content-Length %d", what, aws.ToInt64(n))
		}
		if lm == nil || lm.Before(before.Truncate(time.Second)) || lm.After(time.Now().Add(2*time.Second)) {
			t.Fatalf("%s: Last-Modified %v", what, lm)
		}
	}
	head, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc/report.json")})
	if err != nil {
		t.Fatal(err)
	}
	check("HeadObject", head.ContentType, head.ContentEncoding, head.ContentDisposition, head.ContentLanguage, head.CacheControl,
		head.ExpiresString, head.Metadata, head.ETag, head.ContentLength, head.LastModified)
	get, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc/report.json")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("GetObject returned other bytes")
	}
	check("GetObject", get.ContentType, get.ContentEncoding, get.ContentDisposition, get.ContentLanguage, get.CacheControl,
		get.ExpiresString, get.Metadata, get.ETag, get.ContentLength, get.LastModified)
	if aws.ToString(get.AcceptRanges) != "bytes" {
		t.Fatalf("Accept-Ranges %q", aws.ToString(get.AcceptRanges))
	}

	// minio-go: user metadata and content type round trip; StatObject.
	_, err = mc.PutObject(ctx, "meta", "m/obj", bytes.NewReader(data[:5000]), 5000, minio.PutObjectOptions{ContentType: "text/plain",
		UserMetadata: map[string]string{"Owner": "me"}, CacheControl: "no-cache"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := mc.StatObject(ctx, "meta", "m/obj", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ContentType != "text/plain" || st.UserMetadata["Owner"] != "me" || st.Size != 5000 || st.ETag != md5hex(data[:5000]) ||
		st.Metadata.Get("Cache-Control") != "no-cache" {
		t.Fatalf("minio StatObject: %+v", st)
	}
	// Overwriting replaces content and metadata (nothing merges).
	_, err = ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc/report.json"), Body: strings.NewReader("v2")})
	if err != nil {
		t.Fatal(err)
	}
	head, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("doc/report.json")})
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Metadata) != 0 || aws.ToString(head.ContentType) == "application/json" || aws.ToString(head.CacheControl) != "" ||
		aws.ToInt64(head.ContentLength) != 2 {
		t.Fatalf("after overwrite: metadata %v type %q cache %q length %d", head.Metadata, aws.ToString(head.ContentType),
			aws.ToString(head.CacheControl), aws.ToInt64(head.ContentLength))
	}
	// Without a Content-Type, S3's default comes back.
	req := g.rawRequest(t, "PUT", "/meta/untyped", "", []byte("raw"))
	sign(t, req, sha256hex([]byte("raw")), testSK, now())
	if resp, body := do(t, req); resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5hex([]byte("raw"))+`"` {
		t.Fatalf("raw PUT: %d %s", resp.StatusCode, body)
	}
	head, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("meta"), Key: aws.String("untyped")})
	if err != nil || aws.ToString(head.ContentType) != "binary/octet-stream" {
		t.Fatalf("untyped object: %v, Content-Type %q", err, aws.ToString(head.ContentType))
	}
	// A PUT without a Content-Length (chunked transfer encoding, no
	// aws-chunked decoded length): MissingContentLength (411).
	req = g.rawRequest(t, "PUT", "/meta/nolength", "", []byte("no length"))
	req.ContentLength = -1
	req.Body = io.NopCloser(strings.NewReader("no length"))
	sign(t, req, "UNSIGNED-PAYLOAD", testSK, now())
	resp, body := do(t, req)
	wantXMLError(t, "PUT without Content-Length", resp, body, "MissingContentLength", 411)
	// Oversized user metadata: MetadataTooLarge.
	_, err = ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("big-meta"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"a": strings.Repeat("x", 2100)}})
	wantAWSErr(t, "PutObject with 2 KiB of metadata", err, "MetadataTooLarge", 400)
	// An empty object.
	mustPut(t, ac, "meta", "empty", nil)
	if b := mustGet(t, ac, "meta", "empty"); len(b) != 0 {
		t.Fatalf("empty object read back %d bytes", len(b))
	}
}

// TestContentMD5: a matching Content-MD5 is accepted, a wrong one is
// BadDigest and neither creates nor overwrites the object.
func TestContentMD5(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	core := g.minioCore(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "md5")
	v1 := testcluster.RandBytes(4, 300_000)
	v2 := testcluster.RandBytes(5, 300_000)
	if _, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("md5"), Key: aws.String("obj"), Body: bytes.NewReader(v1),
		ContentMD5: aws.String(md5b64(v1))}); err != nil {
		t.Fatalf("PutObject with the right Content-MD5: %v", err)
	}
	// Wrong digest over an existing object: refused, v1 stays.
	_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("md5"), Key: aws.String("obj"), Body: bytes.NewReader(v2),
		ContentMD5: aws.String(md5b64(v1))})
	wantAWSErr(t, "PutObject with a wrong Content-MD5", err, "BadDigest", 400)
	if b := mustGet(t, ac, "md5", "obj"); !bytes.Equal(b, v1) {
		t.Fatal("a PUT refused with BadDigest overwrote the object")
	}
	// Wrong digest for a new key: nothing created.
	_, err = core.PutObject(ctx, "md5", "new/key", bytes.NewReader(v2), int64(len(v2)), md5b64(v1), "", minio.PutObjectOptions{})
	wantMinioErr(t, "minio PutObject with a wrong Content-MD5", err, "BadDigest", 400)
	_, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("md5"), Key: aws.String("new/key")})
	wantAWSErr(t, "HeadObject after a BadDigest PUT", err, "", 404)
	if _, err := g.c.Stat(ctx, "/md5/new"); err == nil {
		t.Fatal("a PUT refused with BadDigest left its directory behind")
	}
	// Not an MD5 at all: InvalidDigest.
	_, err = ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("md5"), Key: aws.String("obj2"), Body: bytes.NewReader(v2),
		ContentMD5: aws.String("not-base64!")})
	wantAWSErr(t, "PutObject with a malformed Content-MD5", err, "InvalidDigest", 400)
	// minio-go computing Content-MD5 itself (SendContentMd5).
	if _, err := g.minio(t).PutObject(ctx, "md5", "obj3", bytes.NewReader(v2), int64(len(v2)), minio.PutObjectOptions{SendContentMd5: true}); err != nil {
		t.Fatal(err)
	}
	if b := mustGet(t, ac, "md5", "obj3"); !bytes.Equal(b, v2) {
		t.Fatal("obj3 content")
	}
}

// TestRange reads ranges of an object spread over many chunks (the
// cluster's chunk size is small), through both clients.
func TestRange(t *testing.T) {
	const chunk = 64 << 10
	g := startGateway(t, testcluster.Options{ChunkSize: chunk})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "rng")
	size := int64(5*chunk + 1234)
	data := testcluster.RandBytes(6, int(size))
	mustPut(t, ac, "rng", "obj", data)
	cases := []struct {
		spec      string
		off, n    int64
		wantRange bool
	}{
		{"bytes=0-0", 0, 1, true},
		{"bytes=5-", 5, size - 5, true},
		{"bytes=-10", size - 10, 10, true},
		{"bytes=0-", 0, size, true},
		{fmt.Sprintf("bytes=%d-%d", chunk-10, chunk+9), chunk - 10, 20, true}, // across one boundary
		{fmt.Sprintf("bytes=%d-%d", chunk/2, 4*chunk+7), chunk / 2, 4*chunk + 7 - chunk/2 + 1, true}, // across several
		{fmt.Sprintf("bytes=%d-%d", 2*chunk, 3*chunk-1), 2 * chunk, chunk, true},                     // exactly one chunk
		{fmt.Sprintf("bytes=%d-", size-1), size - 1, 1, true},
		{fmt.Sprintf("bytes=100-%d", size+1000), 100, size - 100, true}, // end past the end is clipped
		{fmt.Sprintf("bytes=-%d", size+50), 0, size, true},              // suffix longer than the object
		{"bytes=10-5", 0, size, false},                                  // invalid: ignored, whole object
		{"bytes=0-1,5-6", 0, size, false},                               // multiple ranges: whole object
		{"items=0-1", 0, size, false},
	}
	for _, c := range cases {
		out, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("obj"), Range: aws.String(c.spec)})
		if err != nil {
			t.Fatalf("GetObject %s: %v", c.spec, err)
		}
		got, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil {
			t.Fatalf("GetObject %s: %v", c.spec, err)
		}
		if !bytes.Equal(got, data[c.off:c.off+c.n]) {
			t.Fatalf("GetObject %s: %d bytes, want [%d, %d)", c.spec, len(got), c.off, c.off+c.n)
		}
		if aws.ToInt64(out.ContentLength) != c.n {
			t.Fatalf("GetObject %s: Content-Length %d, want %d", c.spec, aws.ToInt64(out.ContentLength), c.n)
		}
		wantCR := ""
		if c.wantRange {
			wantCR = fmt.Sprintf("bytes %d-%d/%d", c.off, c.off+c.n-1, size)
		}
		if aws.ToString(out.ContentRange) != wantCR {
			t.Fatalf("GetObject %s: Content-Range %q, want %q", c.spec, aws.ToString(out.ContentRange), wantCR)
		}
	}
	// The status is 206 for a range (raw request to see it).
	req := g.rawRequest(t, "GET", "/rng/obj", "", nil)
	req.Header.Set("Range", "bytes=-10")
	sign(t, req, emptySHA256, testSK, now())
	resp, body := do(t, req)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[size-10:]) {
		t.Fatalf("suffix range: status %d, %d bytes", resp.StatusCode, len(body))
	}
	// HEAD with a range answers like the GET, without a body.
	hd, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("rng"), Key: aws.String("obj"), Range: aws.String("bytes=10-19")})
	if err != nil || aws.ToInt64(hd.ContentLength) != 10 || aws.ToString(hd.ContentRange) != fmt.Sprintf("bytes 10-19/%d", size) {
		t.Fatalf("HeadObject with a range: %v, length %d, range %q", err, aws.ToInt64(hd.ContentLength), aws.ToString(hd.ContentRange))
	}
	// Unsatisfiable: InvalidRange (416) with Content-Range bytes */size.
	for _, spec := range []string{fmt.Sprintf("bytes=%d-", size), fmt.Sprintf("bytes=%d-%d", size+10, size+20), "bytes=-0"} {
		_, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("obj"), Range: aws.String(spec)})
		wantAWSErr(t, "GetObject "+spec, err, "InvalidRange", 416)
	}
	req = g.rawRequest(t, "GET", "/rng/obj", "", nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-", size))
	sign(t, req, emptySHA256, testSK, now())
	resp, body = do(t, req)
	wantXMLError(t, "range past the end", resp, body, "InvalidRange", 416)
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes */%d", size) {
		t.Fatalf("416 Content-Range %q", cr)
	}
	// minio-go ranges.
	for _, r := range [][2]int64{{0, 0}, {chunk - 1, chunk}, {3 * chunk, size - 1}} {
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
		o, err := mc.GetObject(ctx, "rng", "obj", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(o)
		o.Close()
		if err != nil || !bytes.Equal(got, data[r[0]:r[1]+1]) {
			t.Fatalf("minio range %v: %v, %d bytes", r, err, len(got))
		}
	}
	// minio-go's ReadAt on the object (ranged GETs underneath).
	o, err := mc.GetObject(ctx, "rng", "obj", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3000)
	if _, err := o.ReadAt(buf, 2*chunk-1500); err != nil || !bytes.Equal(buf, data[2*chunk-1500:2*chunk+1500]) {
		t.Fatalf("minio ReadAt: %v", err)
	}
	o.Close()
	// Ranges of an empty object cannot be satisfied, suffix ranges included.
	mustPut(t, ac, "rng", "empty", nil)
	for _, spec := range []string{"bytes=0-", "bytes=0-0", "bytes=-5"} {
		_, err = ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("rng"), Key: aws.String("empty"), Range: aws.String(spec)})
		wantAWSErr(t, "range "+spec+" of an empty object", err, "InvalidRange", 416)
	}
}

// TestConditionalGet: If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since alone and combined as S3 documents; response-*
// overrides.
func TestConditionalGet(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "cond")
	data := []byte("conditional body")
	etag := mustPut(t, ac, "cond", "obj", data)
	head, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	lm := *head.LastModified
	past, future := lm.Add(-time.Hour), lm.Add(time.Hour)
	other := `"0123456789abcdef0123456789abcdef"`
	cases := []struct {
		name                     string
		ifMatch, ifNoneMatch     string
		ifModified, ifUnmodified *time.Time
		status                   int // 200, 304 or 412
	}{
		{name: "If-Match equal", ifMatch: etag, status: 200},
		{name: "If-Match unquoted", ifMatch: unquote(etag), status: 200},
		{name: "If-Match *", ifMatch: "*", status: 200},
		{name: "If-Match list", ifMatch: other + ", " + etag, status: 200},
		{name: "If-Match other", ifMatch: other, status: 412},
		{name: "If-None-Match equal", ifNoneMatch: etag, status: 304},
		{name: "If-None-Match other", ifNoneMatch: other, status: 200},
		{name: "If-Modified-Since past", ifModified: &past, status: 200},
		{name: "If-Modified-Since last-modified", ifModified: &lm, status: 304},
		{name: "If-Unmodified-Since past", ifUnmodified: &past, status: 412},
		{name: "If-Unmodified-Since last-modified", ifUnmodified: &lm, status: 200},
		{name: "If-Unmodified-Since future", ifUnmodified: &future, status: 200},
		// S3: If-Match true and If-Unmodified-Since false: 200.
		{name: "If-Match true + If-Unmodified-Since false", ifMatch: etag, ifUnmodified: &past, status: 200},
		// S3: If-None-Match false and If-Modified-Since true: 304.
		{name: "If-None-Match false + If-Modified-Since true", ifNoneMatch: etag, ifModified: &past, status: 304},
		{name: "If-None-Match true + If-Modified-Since false", ifNoneMatch: other, ifModified: &lm, status: 200},
		{name: "If-Match false + If-None-Match true", ifMatch: other, ifNoneMatch: other, status: 412},
		{name: "If-Match true + If-None-Match false", ifMatch: etag, ifNoneMatch: etag, status: 304},
	}
	for _, c := range cases {
		for _, method := range []string{"GET", "HEAD"} {
			var err error
			var body []byte
			if method == "GET" {
				in := &awss3.GetObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj"), IfModifiedSince: c.ifModified, IfUnmodifiedSince: c.ifUnmodified}
				if c.ifMatch != "" {
					in.IfMatch = aws.String(c.ifMatch)
				}
				if c.ifNoneMatch != "" {
					in.IfNoneMatch = aws.String(c.ifNoneMatch)
				}
				var out *awss3.GetObjectOutput
				if out, err = ac.GetObject(ctx, in); err == nil {
					body, _ = io.ReadAll(out.Body)
					out.Body.Close()
				}
			} else {
				in := &awss3.HeadObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj"), IfModifiedSince: c.ifModified, IfUnmodifiedSince: c.ifUnmodified}
				if c.ifMatch != "" {
					in.IfMatch = aws.String(c.ifMatch)
				}
				if c.ifNoneMatch != "" {
					in.IfNoneMatch = aws.String(c.ifNoneMatch)
				}
				_, err = ac.HeadObject(ctx, in)
			}
			what := method + " " + c.name
			switch c.status {
			case 200:
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if method == "GET" && !bytes.Equal(body, data) {
					t.Fatalf("%s: body %q", what, body)
				}
			case 412:
				code := "PreconditionFailed"
				if method == "HEAD" {
					code = "" // no body to carry a code
				}
				wantAWSErr(t, what, err, code, 412)
			case 304:
				wantAWSErr(t, what, err, "", 304)
			}
		}
	}
	// The raw 304 carries the ETag and no body; the 412 is S3's XML.
	req := g.rawRequest(t, "GET", "/cond/obj", "", nil)
	req.Header.Set("If-None-Match", etag)
	sign(t, req, emptySHA256, testSK, now())
	resp, body := do(t, req)
	if resp.StatusCode != 304 || len(body) != 0 || resp.Header.Get("ETag") != etag {
		t.Fatalf("304: status %d, %d body bytes, ETag %q", resp.StatusCode, len(body), resp.Header.Get("ETag"))
	}
	req = g.rawRequest(t, "GET", "/cond/obj", "", nil)
	req.Header.Set("If-Match", other)
	sign(t, req, emptySHA256, testSK, now())
	resp, body = do(t, req)
	wantXMLError(t, "If-Match other", resp, body, "PreconditionFailed", 412)

	// minio-go's conditions.
	opts := minio.GetObjectOptions{}
	_ = opts.SetMatchETag(unquote(etag))
	o, err := mc.GetObject(ctx, "cond", "obj", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close() // its reader goroutine ends only with Close
	if b, err := io.ReadAll(o); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("minio If-Match: %v", err)
	}
	opts = minio.GetObjectOptions{}
	_ = opts.SetMatchETagExcept(unquote(etag))
	_, err = mc.StatObject(ctx, "cond", "obj", minio.StatObjectOptions(opts))
	wantMinioErr(t, "minio StatObject If-None-Match", err, "", 304)
	opts = minio.GetObjectOptions{}
	_ = opts.SetUnmodified(past)
	_, err = mc.StatObject(ctx, "cond", "obj", minio.StatObjectOptions(opts))
	wantMinioErr(t, "minio StatObject If-Unmodified-Since", err, "", 412)

	// response-* overrides (aws and a minio presigned URL).
	get, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("cond"), Key: aws.String("obj"),
		ResponseContentType: aws.String("text/x-override"), ResponseContentDisposition: aws.String("inline; filename=x.txt"),
		ResponseCacheControl: aws.String("no-store"), ResponseContentLanguage: aws.String("fr"),
		ResponseContentEncoding: aws.String("gzip2"), ResponseExpires: aws.Time(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	get.Body.Close()
	if aws.ToString(get.ContentType) != "text/x-override" || aws.ToString(get.ContentDisposition) != "inline; filename=x.txt" ||
		aws.ToString(get.CacheControl) != "no-store" || aws.ToString(get.ContentLanguage) != "fr" ||
		aws.ToString(get.ContentEncoding) != "gzip2" || aws.ToString(get.ExpiresString) != "Tue, 06 May 2031 07:08:09 GMT" {
		t.Fatalf("overrides: type %q disposition %q cache %q language %q encoding %q expires %q", aws.ToString(get.ContentType),
			aws.ToString(get.ContentDisposition), aws.ToString(get.CacheControl), aws.ToString(get.ContentLanguage),
			aws.ToString(get.ContentEncoding), aws.ToString(get.ExpiresString))
	}
	u, err := mc.PresignedGetObject(ctx, "cond", "obj", time.Minute, url.Values{"response-content-type": {"image/x-test"},
		"response-content-disposition": {`attachment; filename="d.bin"`}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err = httpClient.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(b, data) || resp.Header.Get("Content-Type") != "image/x-test" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename="d.bin"` {
		t.Fatalf("presigned GET with overrides: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"))
	}
}

// TestCoexistence: keys a/b, a/b/c and the marker a/b/ live side by side.
func TestCoexistence(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "coexist")
	content := map[string][]byte{"a/b": []byte("file a/b"), "a/b/c": []byte("file a/b/c"), "a/b/": nil}
	order := []string{"a/b", "a/b/c", "a/b/"}
	for _, k := range order {
		mustPut(t, ac, "coexist", k, content[k])
	}
	for _, k := range order {
		if b := mustGet(t, ac, "coexist", k); !bytes.Equal(b, content[k]) {
			t.Fatalf("GET %q: %q, want %q", k, b, content[k])
		}
	}
	// Overwrite each: still in place.
	content["a/b"] = []byte("a/b v2")
	content["a/b/"] = []byte("marker with bytes")
	mustPut(t, ac, "coexist", "a/b", content["a/b"])
	mustPut(t, ac, "coexist", "a/b/", content["a/b/"])
	for _, k := range order {
		if b := mustGet(t, ac, "coexist", k); !bytes.Equal(b, content[k]) {
			t.Fatalf("after overwrite GET %q: %q, want %q", k, b, content[k])
		}
	}
	listAll := func() []string {
		var keys []string
		for o := range mc.ListObjects(ctx, "coexist", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			keys = append(keys, o.Key)
		}
		return keys
	}
	if got := listAll(); !slices.Equal(got, []string{"a/b", "a/b/", "a/b/c"}) {
		t.Fatalf("listing %q", got)
	}
	// The other order: marker first, then the deeper key, then the file.
	for _, k := range []string{"x/y/", "x/y/z", "x/y", "x"} {
		mustPut(t, ac, "coexist", k, []byte("k="+k))
	}
	for _, k := range []string{"x/y/", "x/y/z", "x/y", "x"} {
		if b := mustGet(t, ac, "coexist", k); string(b) != "k="+k {
			t.Fatalf("GET %q: %q", k, b)
		}
	}
	// Delete a/b: a/b/c and a/b/ remain.
	if _, err := ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("coexist"), Key: aws.String("a/b")}); err != nil {
		t.Fatal(err)
	}
	_, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("coexist"), Key: aws.String("a/b")})
	wantAWSErr(t, "GET of deleted a/b", err, "NoSuchKey", 404)
	if b := mustGet(t, ac, "coexist", "a/b/c"); !bytes.Equal(b, content["a/b/c"]) {
		t.Fatalf("a/b/c after deleting a/b: %q", b)
	}
	if b := mustGet(t, ac, "coexist", "a/b/"); !bytes.Equal(b, content["a/b/"]) {
		t.Fatalf("a/b/ after deleting a/b: %q", b)
	}
	// a/b comes back as a file next to a/b/c.
	mustPut(t, ac, "coexist", "a/b", []byte("again"))
	if b := mustGet(t, ac, "coexist", "a/b"); string(b) != "again" {
		t.Fatalf("a/b re-put: %q", b)
	}
	// GET of a "directory" that is no key: NoSuchKey.
	for _, k := range []string{"a", "a/", "x/y/z/"} {
		_, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("coexist"), Key: aws.String(k)})
		wantAWSErr(t, "GET of non-key "+k, err, "NoSuchKey", 404)
	}
	// Delete everything (deleting missing keys is fine): the bucket lists
	// empty, the namespace holds nothing below it and it can be deleted.
	for _, k := range []string{"a/b/c", "a/b", "a/b/", "a", "x/y/", "x/y/z", "x/y", "x", "never/was"} {
		if _, err := ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("coexist"), Key: aws.String(k)}); err != nil {
			t.Fatalf("DeleteObject %q: %v", k, err)
		}
	}
	if got := listAll(); len(got) != 0 {
		t.Fatalf("after deleting everything: %q", got)
	}
	if left := g.namespaceEntries(t, "/coexist"); len(left) != 0 {
		t.Fatalf("empty directories not pruned: %q", left)
	}
	if _, err := ac.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("coexist")}); err != nil {
		t.Fatalf("DeleteBucket after deleting every key: %v", err)
	}
}

// TestHostileKeys: keys the namespace cannot hold are refused and nothing
// is stored anywhere.
func TestHostileKeys(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "hostile")
	mustCreateBucket(t, ac, "victim")
	mustPut(t, ac, "victim", "x", []byte("precious"))
	cases := []struct{ key, code string }{
		{"a//b", "InvalidArgument"},
		{"../x", "InvalidArgument"},
		{"../victim/x", "InvalidArgument"},
		{"a/./b", "InvalidArgument"},
		{"a/../b", "InvalidArgument"},
		{"./a", "InvalidArgument"},
		{"a/..", "InvalidArgument"},
		{"a/.", "InvalidArgument"},
		{"..", "InvalidArgument"},
		{"a/.cairn.obj", "InvalidArgument"},
		{"a/.cairn.dir", "InvalidArgument"},
		{".cairn.dir/x", "InvalidArgument"},
		{"a\x00b", "InvalidArgument"},
		{"ok/" + strings.Repeat("s", 256) + "/x", "KeyTooLongError"},
		{strings.Repeat("k/", 512) + "k", "KeyTooLongError"}, // 1025 bytes
	}
	if len(cases[len(cases)-1].key) != 1025 {
		t.Fatal("test key length")
	}
	for _, c := range cases {
		// Raw requests, so no client cleans the path first.
		path := "/hostile/" + c.key
		req := g.rawRequest(t, "PUT", "/", "", []byte("evil"))
		req.URL.Opaque = "//" + g.addr + (&url.URL{Path: path}).EscapedPath()
		sign(t, req, sha256hex([]byte("evil")), testSK, now())
		resp, body := do(t, req)
		wantXMLError(t, fmt.Sprintf("PUT %q", c.key), resp, body, c.code, 400)
		// GET and DELETE refuse it too.
		for _, m := range []string{"GET", "DELETE"} {
			req = g.rawRequest(t, m, "/", "", nil)
			req.URL.Opaque = "//" + g.addr + (&url.URL{Path: path}).EscapedPath()
			sign(t, req, emptySHA256, testSK, now())
			resp, body = do(t, req)
			wantXMLError(t, fmt.Sprintf("%s %q", m, c.key), resp, body, c.code, 400)
		}
	}
	// Through the aws SDK as well.
	for _, k := range []string{"a//b", "a/./b", "../x", strings.Repeat("x", 1025)} {
		_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("hostile"), Key: aws.String(k), Body: strings.NewReader("evil")})
		if err == nil {
			t.Fatalf("aws PutObject %q succeeded", k)
		}
		if c, s, _ := awsErr(err); s != 400 || (c != "InvalidArgument" && c != "KeyTooLongError") {
			t.Fatalf("aws PutObject %q: %v", k, err)
		}
	}
	// Multipart and copy refuse them too.
	_, err := ac.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("hostile"), Key: aws.String("a//b")})
	wantAWSErr(t, "CreateMultipartUpload a//b", err, "InvalidArgument", 400)
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("hostile"), Key: aws.String("a/./b"), CopySource: aws.String("victim/x")})
	wantAWSErr(t, "CopyObject to a/./b", err, "InvalidArgument", 400)
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("hostile"), Key: aws.String("ok"), CopySource: aws.String("hostile/../victim/x")})
	wantAWSErr(t, "CopyObject from ../victim/x", err, "InvalidArgument", 400)
	// Nothing stored: the bucket is empty, the victim untouched, and no
	// stray file at the namespace root.
	if left := g.namespaceEntries(t, "/hostile"); len(left) != 0 {
		t.Fatalf("hostile keys left %q", left)
	}
	if b := mustGet(t, ac, "victim", "x"); string(b) != "precious" {
		t.Fatalf("victim/x is %q", b)
	}
	root, err := g.c.ReadDir(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range root {
		names = append(names, fi.Name())
	}
	if !slices.Equal(names, []string{"hostile", "victim"}) {
		t.Fatalf("namespace root holds %q", names)
	}
	// Listing with prefixes that no key can have is empty, not an error
	// and not another directory's keys.
	mustPut(t, ac, "hostile", "a/b", []byte("fine"))
	mustPut(t, ac, "hostile", "b", []byte("fine"))
	for _, p := range []string{"a//", "a//b", "//", "/", "/a", "a/./", "../", "a/../", "./a", "a/" + strings.Repeat("s", 256) + "/", strings.Repeat("p", 1100)} {
		out, err := ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("hostile"), Prefix: aws.String(p)})
		if err != nil {
			t.Fatalf("ListObjectsV2 prefix %q: %v", p, err)
		}
		if len(out.Contents)+len(out.CommonPrefixes) != 0 {
			t.Fatalf("ListObjectsV2 prefix %q listed %d keys (%q...)", p, len(out.Contents), aws.ToString(out.Contents[0].Key))
		}
	}
}

// TestDeleteObjects: batch delete of 1000 keys, quiet and not, with keys
// that do not exist (reported as deleted, as S3 does).
func TestDeleteObjects(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "batch")
	n, m := 1000, 120
	if testing.Short() {
		n, m = 300, 40
	}
	putAll := func(prefix string, count int) []string {
		keys := make([]string, count)
		for i := range keys {
			keys[i] = fmt.Sprintf("%s/%02d/k%04d", prefix, i%10, i)
		}
		g.putMany(t, "batch", keys, func(int) []byte { return []byte("x") })
		return keys
	}
	count := func(prefix string) int {
		out, err := ac.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("batch"), Prefix: aws.String(prefix)})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Contents)
	}
	// Not quiet: n-50 existing keys and 50 missing ones, all Deleted.
	keys := putAll("loud", n-50)
	keep := putAll("keep", 3)
	var ids []types.ObjectIdentifier
	for _, k := range keys {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
	}
	for i := range 50 {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(fmt.Sprintf("loud/missing-%d", i))})
	}
	out, err := ac.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("batch"), Delete: &types.Delete{Objects: ids}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != n || len(out.Errors) != 0 {
		t.Fatalf("DeleteObjects: %d deleted, %d errors; want %d, 0", len(out.Deleted), len(out.Errors), n)
	}
	var deleted []string
	for _, d := range out.Deleted {
		deleted = append(deleted, aws.ToString(d.Key))
	}
	var want []string
	for _, id := range ids {
		want = append(want, aws.ToString(id.Key))
	}
	slices.Sort(deleted)
	slices.Sort(want)
	if !slices.Equal(deleted, want) {
		t.Fatal("DeleteObjects reported other keys than it was given")
	}
	if c := count("loud/"); c != 0 {
		t.Fatalf("%d keys left after DeleteObjects", c)
	}
	if c := count("keep/"); c != len(keep) {
		t.Fatalf("DeleteObjects removed other keys: %d of %d left", c, len(keep))
	}
	if left := g.namespaceEntries(t, "/batch/loud"); len(left) != 0 {
		// The directory itself may go too; what must not stay is content.
		t.Fatalf("DeleteObjects left %q", left)
	}

	// Quiet: nothing reported on success; a bad key is still an error.
	// n names again: n-100 existing keys, 99 missing ones and a bad one.
	keys = putAll("quiet", n-100)
	ids = ids[:0]
	for _, k := range keys {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
	}
	for i := range 99 {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(fmt.Sprintf("quiet/missing-%d", i))})
	}
	ids = append(ids, types.ObjectIdentifier{Key: aws.String("bad//key")})
	if len(ids) != n {
		t.Fatalf("%d keys in the quiet batch", len(ids))
	}
	out, err = ac.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("batch"), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Deleted) != 0 || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "bad//key" || aws.ToString(out.Errors[0].Code) != "InvalidArgument" {
		t.Fatalf("quiet DeleteObjects: %d deleted, errors %+v", len(out.Deleted), out.Errors)
	}
	if c := count("quiet/"); c != 0 {
		t.Fatalf("%d keys left after quiet DeleteObjects", c)
	}

	// minio-go's RemoveObjects (batches of up to 1000).
	keys = putAll("minio", m)
	ch := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		ch <- minio.ObjectInfo{Key: k}
	}
	close(ch)
	for e := range mc.RemoveObjects(ctx, "batch", ch, minio.RemoveObjectsOptions{}) {
		t.Fatalf("minio RemoveObjects: %q: %v", e.ObjectName, e.Err)
	}
	if c := count("minio/"); c != 0 {
		t.Fatalf("%d keys left after minio RemoveObjects", c)
	}

	// Limits: more than 1000 keys, or none, is MalformedXML.
	ids = ids[:0]
	for i := range 1001 {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String("k" + strconv.Itoa(i))})
	}
	_, err = ac.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("batch"), Delete: &types.Delete{Objects: ids}})
	wantAWSErr(t, "DeleteObjects of 1001 keys", err, "MalformedXML", 400)
	_, err = ac.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("no-such-bucket"), Delete: &types.Delete{Objects: ids[:2]}})
	wantAWSErr(t, "DeleteObjects in a missing bucket", err, "NoSuchBucket", 404)

	// DeleteObject: 204 for present and missing keys; NoSuchBucket.
	mustPut(t, ac, "batch", "single", []byte("x"))
	for _, k := range []string{"single", "single", "never"} {
		if _, err := ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("batch"), Key: aws.String(k)}); err != nil {
			t.Fatalf("DeleteObject %q: %v", k, err)
		}
	}
	if err := mc.RemoveObject(ctx, "batch", "never", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("no-such-bucket"), Key: aws.String("k")})
	wantAWSErr(t, "DeleteObject in a missing bucket", err, "NoSuchBucket", 404)
}

// TestCopyObject: metadata directives, copy onto itself, conditional copy.
func TestCopyObject(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "src")
	mustCreateBucket(t, ac, "dst")
	data := testcluster.RandBytes(8, 2<<20+5)
	_, err := ac.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/orig ü+.bin"), Body: bytes.NewReader(data),
		ContentType: aws.String("application/x-orig"), Metadata: map[string]string{"k1": "v1"}, CacheControl: aws.String("max-age=5")})
	if err != nil {
		t.Fatal(err)
	}
	src := "src/" + url.PathEscape("dir/orig ü+.bin")
	src = strings.ReplaceAll(src, "%2F", "/")
	head := func(bucket, key string) *awss3.HeadObjectOutput {
		t.Helper()
		h, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("HeadObject %s/%s: %v", bucket, key, err)
		}
		return h
	}

	// COPY (the default): content, type and metadata copied.
	out, err := ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy"), CopySource: aws.String(src)})
	if err != nil {
		t.Fatal(err)
	}
	if unquote(aws.ToString(out.CopyObjectResult.ETag)) != md5hex(data) {
		t.Fatalf("CopyObject ETag %s", aws.ToString(out.CopyObjectResult.ETag))
	}
	if b := mustGet(t, ac, "dst", "copy"); !bytes.Equal(b, data) {
		t.Fatal("copied bytes differ")
	}
	h := head("dst", "copy")
	if aws.ToString(h.ContentType) != "application/x-orig" || h.Metadata["k1"] != "v1" || aws.ToString(h.CacheControl) != "max-age=5" {
		t.Fatalf("COPY directive: type %q meta %v cache %q", aws.ToString(h.ContentType), h.Metadata, aws.ToString(h.CacheControl))
	}
	// COPY ignores metadata sent with the request.
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("copy2"), CopySource: aws.String(src),
		MetadataDirective: types.MetadataDirectiveCopy, Metadata: map[string]string{"k2": "ignored"}, ContentType: aws.String("text/ignored")})
	if err != nil {
		t.Fatal(err)
	}
	if h := head("dst", "copy2"); h.Metadata["k1"] != "v1" || h.Metadata["k2"] != "" || aws.ToString(h.ContentType) != "application/x-orig" {
		t.Fatalf("COPY with request metadata: %v %q", h.Metadata, aws.ToString(h.ContentType))
	}
	// REPLACE: the request's metadata and type only.
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("replaced"), CopySource: aws.String(src),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"k2": "v2"}, ContentType: aws.String("text/new")})
	if err != nil {
		t.Fatal(err)
	}
	h = head("dst", "replaced")
	if aws.ToString(h.ContentType) != "text/new" || h.Metadata["k2"] != "v2" || h.Metadata["k1"] != "" || aws.ToString(h.CacheControl) != "" {
		t.Fatalf("REPLACE directive: type %q meta %v cache %q", aws.ToString(h.ContentType), h.Metadata, aws.ToString(h.CacheControl))
	}
	if b := mustGet(t, ac, "dst", "replaced"); !bytes.Equal(b, data) {
		t.Fatal("REPLACE copy bytes differ")
	}
	// Onto itself without REPLACE: InvalidRequest; with REPLACE: allowed.
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/orig ü+.bin"), CopySource: aws.String(src)})
	wantAWSErr(t, "CopyObject onto itself", err, "InvalidRequest", 400)
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/orig ü+.bin"), CopySource: aws.String(src),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"k3": "v3"}, ContentType: aws.String("text/self")})
	if err != nil {
		t.Fatalf("CopyObject onto itself with REPLACE: %v", err)
	}
	h = head("src", "dir/orig ü+.bin")
	if h.Metadata["k3"] != "v3" || h.Metadata["k1"] != "" || aws.ToString(h.ContentType) != "text/self" || aws.ToInt64(h.ContentLength) != int64(len(data)) {
		t.Fatalf("after self-copy: meta %v type %q length %d", h.Metadata, aws.ToString(h.ContentType), aws.ToInt64(h.ContentLength))
	}
	if b := mustGet(t, ac, "src", "dir/orig ü+.bin"); !bytes.Equal(b, data) {
		t.Fatal("self-copy changed the bytes")
	}
	etag := aws.ToString(h.ETag)
	lm := *h.LastModified

	// Conditional copy.
	bad := `"00000000000000000000000000000000"`
	conds := []struct {
		name string
		in   awss3.CopyObjectInput
		ok   bool
	}{
		{"if-match mismatch", awss3.CopyObjectInput{CopySourceIfMatch: aws.String(bad)}, false},
		{"if-match match", awss3.CopyObjectInput{CopySourceIfMatch: aws.String(etag)}, true},
		{"if-none-match match", awss3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(etag)}, false},
		{"if-none-match mismatch", awss3.CopyObjectInput{CopySourceIfNoneMatch: aws.String(bad)}, true},
		{"if-unmodified-since past", awss3.CopyObjectInput{CopySourceIfUnmodifiedSince: aws.Time(lm.Add(-time.Hour))}, false},
		{"if-unmodified-since future", awss3.CopyObjectInput{CopySourceIfUnmodifiedSince: aws.Time(lm.Add(time.Hour))}, true},
		{"if-modified-since future", awss3.CopyObjectInput{CopySourceIfModifiedSince: aws.Time(lm.Add(time.Hour))}, false},
		{"if-modified-since past", awss3.CopyObjectInput{CopySourceIfModifiedSince: aws.Time(lm.Add(-time.Hour))}, true},
		{"if-match true + if-unmodified-since false", awss3.CopyObjectInput{CopySourceIfMatch: aws.String(etag),
			CopySourceIfUnmodifiedSince: aws.Time(lm.Add(-time.Hour))}, true},
	}
	for i, c := range conds {
		in := c.in
		in.Bucket, in.Key, in.CopySource = aws.String("dst"), aws.String(fmt.Sprintf("cond-%d", i)), aws.String(src)
		_, err := ac.CopyObject(ctx, &in)
		if c.ok {
			if err != nil {
				t.Fatalf("conditional copy %s: %v", c.name, err)
			}
			continue
		}
		wantAWSErr(t, "conditional copy "+c.name, err, "PreconditionFailed", 412)
		if _, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("dst"), Key: in.Key}); err == nil {
			t.Fatalf("conditional copy %s failed but created the object", c.name)
		}
	}
	// Errors: missing source key or bucket, bad directive, bad source.
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("src/nope")})
	wantAWSErr(t, "CopyObject of a missing key", err, "NoSuchKey", 404)
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String("nobucket/nope")})
	wantAWSErr(t, "CopyObject from a missing bucket", err, "NoSuchBucket", 404)
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("x"), CopySource: aws.String(src)})
	wantAWSErr(t, "CopyObject into a missing bucket", err, "NoSuchBucket", 404)
	_, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("x"), CopySource: aws.String(src),
		MetadataDirective: "MERGE"})
	wantAWSErr(t, "CopyObject with directive MERGE", err, "InvalidArgument", 400)

	// minio-go CopyObject with and without replacing metadata, and from a
	// copy source that needs URL encoding.
	_, err = mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "dst", Object: "minio copy é"}, minio.CopySrcOptions{Bucket: "src", Object: "dir/orig ü+.bin"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "dst", Object: "minio replace", ReplaceMetadata: true, UserMetadata: map[string]string{"x": "y"}},
		minio.CopySrcOptions{Bucket: "dst", Object: "minio copy é", MatchETag: unquote(etag)})
	if err != nil {
		t.Fatal(err)
	}
	st, err := mc.StatObject(ctx, "dst", "minio replace", minio.StatObjectOptions{})
	if err != nil || st.UserMetadata["X"] != "y" || st.Size != int64(len(data)) {
		t.Fatalf("minio replace copy: %v %+v", err, st.UserMetadata)
	}
	_, err = mc.CopyObject(ctx, minio.CopyDestOptions{Bucket: "dst", Object: "never"}, minio.CopySrcOptions{Bucket: "src", Object: "dir/orig ü+.bin", MatchETag: unquote(bad)})
	wantMinioErr(t, "minio conditional copy", err, "PreconditionFailed", 412)

	// Copying a multipart object: the bytes survive, the ETag is the MD5.
	big := testcluster.RandBytes(9, 6<<20)
	if _, err := mc.PutObject(ctx, "src", "mp", bytes.NewReader(big), int64(len(big)), minio.PutObjectOptions{PartSize: 5 << 20, DisableMultipart: false}); err != nil {
		t.Fatal(err)
	}
	out, err = ac.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("mp-copy"), CopySource: aws.String("src/mp")})
	if err != nil {
		t.Fatal(err)
	}
	if b := mustGet(t, ac, "dst", "mp-copy"); !bytes.Equal(b, big) {
		t.Fatal("copy of a multipart object differs")
	}
	if e := unquote(aws.ToString(out.CopyObjectResult.ETag)); e != md5hex(big) && e != multipartETag(big[:5<<20], big[5<<20:]) {
		t.Fatalf("copy of a multipart object: ETag %s", e)
	}
}

// TestConcurrentNesting: keys that turn files into directories (k, k/x,
// k/, k/x/y, k/x/) written at the same time all land; deletes racing
// with writes under the same directories never lose a written key.
func TestConcurrentNesting(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "race")
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	var keys []string
	for i := range rounds {
		for _, s := range []string{"", "/x", "/", "/x/y", "/x/", "/x/y/z", "-sib"} {
			keys = append(keys, fmt.Sprintf("n%02d%s", i, s))
		}
	}
	// Interleave so each group's keys are in flight together.
	slices.SortFunc(keys, func(a, b string) int { return strings.Compare(a[3:], b[3:]) })
	g.putMany(t, "race", keys, func(i int) []byte { return []byte("v1 " + keys[i]) })
	err := forEach(len(keys), 8, func(i int) error {
		out, err := ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("race"), Key: aws.String(keys[i])})
		if err != nil {
			return fmt.Errorf("GET %q: %w", keys[i], err)
		}
		defer out.Body.Close()
		if b, _ := io.ReadAll(out.Body); string(b) != "v1 "+keys[i] {
			return fmt.Errorf("GET %q: %q", keys[i], b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Delete the deep keys while writing new siblings next to them.
	var dels, puts []string
	for i := range rounds {
		dels = append(dels, fmt.Sprintf("n%02d/x/y/z", i), fmt.Sprintf("n%02d/x/y", i), fmt.Sprintf("n%02d/x/", i))
		puts = append(puts, fmt.Sprintf("n%02d/x/w", i), fmt.Sprintf("n%02d/x/y2/z", i))
	}
	done := make(chan error, 1)
	go func() {
		done <- forEach(len(dels), 8, func(i int) error {
			_, err := ac.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("race"), Key: aws.String(dels[i])})
			return err
		})
	}()
	g.putMany(t, "race", puts, func(i int) []byte { return []byte("v2 " + puts[i]) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, k := range append(keys, puts...) {
		if !slices.Contains(dels, k) {
			want = append(want, k)
		}
	}
	slices.Sort(want)
	var got []string
	pg := awss3.NewListObjectsV2Paginator(ac, &awss3.ListObjectsV2Input{Bucket: aws.String("race")})
	for i := 0; pg.HasMorePages() && i < 10; i++ {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after racing deletes and writes:\n got %q\nwant %q", got, want)
	}
	for _, k := range puts {
		if b := mustGet(t, ac, "race", k); string(b) != "v2 "+k {
			t.Fatalf("GET %q: %q", k, b)
		}
	}
	// Concurrent overwrites of one key: one of the versions wins whole.
	var same []string
	for range 16 {
		same = append(same, "n00/x")
	}
	g.putMany(t, "race", same, func(i int) []byte { return []byte(fmt.Sprintf("writer %02d", i)) })
	if b := mustGet(t, ac, "race", "n00/x"); !strings.HasPrefix(string(b), "writer ") || len(b) != 9 {
		t.Fatalf("after concurrent overwrites: %q", b)
	}
}
