package sigv4

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// fakeS3 is a minimal S3 endpoint whose every request goes through Verify
// and whose bodies are read to the end before anything is stored.
type fakeS3 struct {
	v       *Verifier
	corrupt atomic.Bool // flip a byte of the next request bodies in transit
	mu      sync.Mutex
	objects map[string][]byte
	modes   map[string][]string // path -> x-amz-content-sha256 values seen
	trailer map[string][]string // path -> X-Amz-Trailer values seen
}

func newFakeS3() *fakeS3 {
	v := testVerifier()
	v.Now = nil // the SDK signs with the real clock
	return &fakeS3{v: v, objects: map[string][]byte{}, modes: map[string][]string{}, trailer: map[string][]string{}}
}

func (s *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.corrupt.Load() {
		r.Body = &flipReader{r: r.Body, at: 100}
	}
	res, err := s.v.Verify(r)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(res.Body)
	}
	if err != nil {
		code, msg := "InternalError", err.Error()
		var e *Error
		if errors.As(err, &e) {
			code, msg = e.Code, e.Message
		}
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, html.EscapeString(msg))
		return
	}
	if int64(len(data)) != res.DecodedLength && res.DecodedLength >= 0 {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "<Error><Code>Test</Code><Message>DecodedLength %d, read %d</Message></Error>",
			res.DecodedLength, len(data))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[r.URL.Path] = append(s.modes[r.URL.Path], r.Header.Get("X-Amz-Content-Sha256"))
	tr := r.Header.Get("X-Amz-Trailer")
	for k := range r.Header {
		if strings.HasPrefix(k, "X-Amz-Checksum-") {
			tr += " header:" + strings.ToLower(k)
		}
	}
	s.trailer[r.URL.Path] = append(s.trailer[r.URL.Path], tr)
	q := r.URL.Query()
	switch {
	case r.Method == "PUT" && q.Has("uploadId"):
		s.objects[r.URL.Path+"#"+q.Get("partNumber")] = data
		w.Header().Set("ETag", `"part"`)
	case r.Method == "PUT":
		s.objects[r.URL.Path] = data
		w.Header().Set("ETag", `"etag"`)
	case r.Method == "GET":
		obj, ok := s.objects[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "<Error><Code>NoSuchKey</Code><Message>no</Message></Error>")
			return
		}
		w.Write(obj)
	case r.Method == "POST" && q.Has("uploads"):
		fmt.Fprint(w, "<InitiateMultipartUploadResult><Bucket>bucket</Bucket><Key>k</Key>"+
			"<UploadId>up1</UploadId></InitiateMultipartUploadResult>")
	case r.Method == "POST" && q.Has("uploadId"):
		fmt.Fprint(w, "<CompleteMultipartUploadResult><ETag>\"x\"</ETag></CompleteMultipartUploadResult>")
	case r.Method == "POST" && q.Has("delete"):
		fmt.Fprint(w, "<DeleteResult></DeleteResult>")
	}
}

// flipReader flips the bit 0 of byte at of the stream.
type flipReader struct {
	r   io.ReadCloser
	at  int64
	off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 1
	}
	f.off += int64(n)
	return n, err
}

func (f *flipReader) Close() error { return f.r.Close() }

func (s *fakeS3) seen(path string) (modes, trailers []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.modes[path]...), append([]string(nil), s.trailer[path]...)
}

// sdkClient returns an aws-sdk-go-v2 S3 client pointed at srv. Checksum
// calculation is WhenSupported, the default config.LoadDefaultConfig
// resolves to (set here because a hand-built aws.Config leaves it unset,
// and so that the environment cannot change it); WhenRequired is what
// clients configured for older S3 implementations use.
func sdkClient(srv *httptest.Server, calc aws.RequestChecksumCalculation) *s3.Client {
	cfg := aws.Config{
		Region: testRegion,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return testCreds, nil
		}),
		HTTPClient:                 srv.Client(),
		RetryMaxAttempts:           1,
		RequestChecksumCalculation: calc,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.URL)
		o.UsePathStyle = true
	})
}

func TestSDKEndToEnd(t *testing.T) {
	for _, c := range []struct {
		tls  bool
		calc aws.RequestChecksumCalculation
	}{
		{true, aws.RequestChecksumCalculationWhenSupported},
		{false, aws.RequestChecksumCalculationWhenSupported},
		{true, aws.RequestChecksumCalculationWhenRequired},
		{false, aws.RequestChecksumCalculationWhenRequired},
	} {
		tls := c.tls
		name := map[bool]string{true: "https", false: "http"}[tls]
		if c.calc == aws.RequestChecksumCalculationWhenRequired {
			name += "-when-required"
		}
		t.Run(name, func(t *testing.T) {
			fake := newFakeS3()
			var srv *httptest.Server
			if tls {
				srv = httptest.NewTLSServer(fake)
			} else {
				srv = httptest.NewServer(fake)
			}
			defer srv.Close()
			client := sdkClient(srv, c.calc)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			for _, size := range []int{0, 1, 1<<20 + 3} {
				key := fmt.Sprintf("sdk/odd key+%d=ü~!*'().bin", size)
				data := randomBytes(size, byte(size))
				_, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: aws.String("bucket"), Key: aws.String(key), Body: bytes.NewReader(data),
				})
				if err != nil {
					t.Fatalf("PutObject %d bytes: %v", size, err)
				}
				path := "/bucket/" + key
				fake.mu.Lock()
				stored := fake.objects[path]
				fake.mu.Unlock()
				if !bytes.Equal(stored, data) {
					t.Fatalf("stored %d bytes, want %d", len(stored), size)
				}
				modes, trailers := fake.seen(path)
				t.Logf("PutObject %d bytes over %s: x-amz-content-sha256=%s checksum=%q", size, name, modes[0],
					trailers[0])
				defaults := c.calc == aws.RequestChecksumCalculationWhenSupported
				if defaults && tls && size > 0 && (modes[0] != streamingUnsignedTrailer || trailers[0] == "") {
					t.Fatalf("expected the SDK default STREAMING-UNSIGNED-PAYLOAD-TRAILER with a checksum trailer, "+
						"got %s / %q", modes[0], trailers[0])
				}
				out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)})
				if err != nil {
					t.Fatalf("GetObject: %v", err)
				}
				got, err := io.ReadAll(out.Body)
				out.Body.Close()
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("GetObject body: %v (%d bytes)", err, len(got))
				}
			}
			if c.calc == aws.RequestChecksumCalculationWhenSupported {
				// Every PutObject carried a CRC32, as a trailer or a header.
				for _, size := range []int{0, 1, 1<<20 + 3} {
					_, trailers := fake.seen(fmt.Sprintf("/bucket/sdk/odd key+%d=ü~!*'().bin", size))
					if !strings.Contains(trailers[0], "x-amz-checksum-crc32") {
						t.Fatalf("PutObject %d bytes sent no CRC32: %q", size, trailers[0])
					}
				}
			}
			// A byte corrupted in transit is caught.
			fake.corrupt.Store(true)
			_, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"),
				Key: aws.String("corrupt"), Body: bytes.NewReader(randomBytes(5000, 1))})
			fake.corrupt.Store(false)
			want := map[bool]string{true: "BadDigest", false: "XAmzContentSHA256Mismatch"}[tls && c.calc ==
				aws.RequestChecksumCalculationWhenSupported]
			if tls && c.calc == aws.RequestChecksumCalculationWhenRequired {
				want = "" // UNSIGNED-PAYLOAD without a checksum: nothing to detect it with
			}
			if want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
				t.Fatalf("corrupted PutObject: got %v, want %s", err, want)
			}
			sdkMultipart(ctx, t, client)
			_, err = client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: aws.String("bucket"),
				Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b c")}}},
			})
			if err != nil {
				t.Fatalf("DeleteObjects (checksum header over an XML body): %v", err)
			}
		})
	}
}

func sdkMultipart(ctx context.Context, t *testing.T, client *s3.Client) {
	t.Helper()
	bucket, key := aws.String("bucket"), aws.String("multi part")
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatalf("CreateMultipartUpload: %v", err)
	}
	part := randomBytes(300_000, 42)
	_, err = client.UploadPart(ctx, &s3.UploadPartInput{Bucket: bucket, Key: key, UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part)})
	if err != nil {
		t.Fatalf("UploadPart: %v", err)
	}
	_, err = client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: bucket, Key: key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{
			Parts: []types.CompletedPart{{ETag: aws.String(`"part"`), PartNumber: aws.Int32(1)}}}})
	if err != nil {
		t.Fatalf("CompleteMultipartUpload: %v", err)
	}
}

func TestSDKPresigned(t *testing.T) {
	fake := newFakeS3()
	srv := httptest.NewTLSServer(fake)
	defer srv.Close()
	presigner := s3.NewPresignClient(sdkClient(srv, aws.RequestChecksumCalculationWhenSupported))
	ctx := t.Context()
	key := "presigned/a b+c=ü~!*'().txt"
	data := randomBytes(5000, 3)

	put, err := presigner.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)},
		s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	resp := doPresigned(t, srv, put.Method, put.URL, put.SignedHeader, data)
	if resp != "" {
		t.Fatalf("presigned PUT refused: %s", resp)
	}
	get, err := presigner.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(key)},
		s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(get.URL, "X-Amz-Signature=") {
		t.Fatalf("not a presigned URL: %s", get.URL)
	}
	req, err := http.NewRequestWithContext(ctx, get.Method, get.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("presigned GET: %d %q", res.StatusCode, body[:min(len(body), 200)])
	}
	// The same URL with the signature altered is refused.
	bad := strings.Replace(get.URL, "X-Amz-Signature=", "X-Amz-Signature=0", 1)
	if resp := doPresigned(t, srv, "GET", bad, nil, nil); !strings.Contains(resp, "SignatureDoesNotMatch") {
		t.Fatalf("altered presigned GET: %q", resp)
	}
}

// doPresigned sends a request to a presigned URL; it returns "" on 200, else
// the response body.
func doPresigned(t *testing.T, srv *httptest.Server, method, u string, hdr http.Header, body []byte) string {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = vs
		}
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == 200 {
		return ""
	}
	return string(b)
}
