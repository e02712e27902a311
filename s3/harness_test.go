package s3_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/client"
	"github.com/cairnfs/cairn/internal/testcluster"
	"github.com/cairnfs/cairn/pki"
	"github.com/cairnfs/cairn/s3"
)

const (
	testAK = "CAIRNTESTKEY"
	testSK = "cairn-test-secret-key-0123456789"
	region = "us-east-1"
)

// gateway is a gateway on an in-process cluster, served on 127.0.0.1
// (plain HTTP, and HTTPS on demand) behind a recorder that notes every
// request it served.
type gateway struct {
	cluster *testcluster.Cluster
	gw      *s3.Gateway
	c       *client.Client // the gateway's client, to look at the namespace
	addr    string
	srv     *http.Server
	rec     *recorder

	tlsOnce sync.Once
	tls     *httptest.Server
}

// startGateway starts a gateway on a light cluster (testcluster.NewInProcess:
// the metadata service without Raft, and real data nodes), three data
// nodes unless opts says otherwise. The gateway sees the metadata API as
// on a Raft cluster; the tests that must show it works on one use
// startGatewayRaft.
func startGateway(t testing.TB, opts testcluster.Options) *gateway {
	t.Helper()
	return startGatewayWith(t, opts, nil)
}

// startGatewayWith lets a test adjust the gateway's configuration.
func startGatewayWith(t testing.TB, opts testcluster.Options, configure func(*s3.Config)) *gateway {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	return serveGateway(t, testcluster.NewInProcess(t, opts), configure)
}

// startGatewayRaft starts a gateway on a cluster with a Raft metadata
// peer (testcluster.New), three data nodes unless opts says otherwise.
func startGatewayRaft(t testing.TB, opts testcluster.Options) *gateway {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	return serveGateway(t, testcluster.New(t, opts), nil)
}

// serveGateway serves a gateway on cl, which is ready (its data nodes
// are alive).
func serveGateway(t testing.TB, cl *testcluster.Cluster, configure func(*s3.Config)) *gateway {
	t.Helper()
	// A gateway that creates its root key at start: the gateway and admin
	// roles, as `cairn server` has.
	c := cl.NewClient(client.Options{TLS: cl.Cert("gateway", pki.Gateway, pki.Admin)})
	cfg := s3.Config{Store: c, Cluster: c.Admin()}
	if configure != nil {
		configure(&cfg)
	}
	gw := s3.New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := gw.EnsureUser(ctx, testAK, testSK); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{h: gw}
	srv := &http.Server{Handler: rec}
	go func() { _ = srv.Serve(l) }()
	g := &gateway{cluster: cl, gw: gw, c: c, addr: l.Addr().String(), srv: srv, rec: rec}
	t.Cleanup(func() {
		srv.Close()
		if g.tls != nil {
			g.tls.Close()
		}
		// Cut the data nodes rather than stopping them gracefully: a
		// graceful stop waits up to 5 s for connections some internal
		// client opened but never used (net/http counts them as active),
		// which would add seconds to random tests. Nothing is left to
		// serve at this point.
		for i := range cl.Nodes {
			cl.KillNode(i)
		}
	})
	return g
}

func (g *gateway) url() string { return "http://" + g.addr }

func (g *gateway) minio(t testing.TB) *minio.Client {
	t.Helper()
	return g.minioWith(t, testAK, testSK)
}

func (g *gateway) minioWith(t testing.TB, ak, sk string) *minio.Client {
	t.Helper()
	mc, err := minio.New(g.addr, &minio.Options{Creds: miniocreds.NewStaticV4(ak, sk, ""), Secure: false, Region: region,
		BucketLookup: minio.BucketLookupPath, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func (g *gateway) minioCore(t testing.TB) *minio.Core {
	t.Helper()
	return &minio.Core{Client: g.minio(t)}
}

func (g *gateway) aws(t testing.TB, secret string) *awss3.Client {
	t.Helper()
	return g.awsWith(t, testAK, secret)
}

func (g *gateway) awsWith(t testing.TB, ak, secret string) *awss3.Client {
	t.Helper()
	return awss3.New(awss3.Options{
		Region:       region,
		BaseEndpoint: aws.String(g.url()),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ak, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// awsTLS is an aws-sdk-go-v2 client talking HTTPS to the gateway (on
// 127.0.0.1): over TLS the SDK streams uploads as aws-chunked bodies with
// a trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER).
func (g *gateway) awsTLS(t testing.TB) *awss3.Client {
	t.Helper()
	g.tlsOnce.Do(func() { g.tls = httptest.NewTLSServer(g.rec) })
	if !strings.HasPrefix(g.tls.URL, "https://127.0.0.1:") {
		t.Fatalf("TLS server is not on 127.0.0.1: %s", g.tls.URL)
	}
	return awss3.New(awss3.Options{
		Region:       region,
		BaseEndpoint: aws.String(g.tls.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(testAK, testSK, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   g.tls.Client(),
	})
}

// recorder wraps the gateway and notes how each request was authenticated
// and what it was answered, so tests can show which payload modes the
// real clients used and wait for a request the client gave up on.
type recorder struct {
	h    http.Handler
	mu   sync.Mutex
	seen []served
}

type served struct {
	method, path, query string
	mode                string // x-amz-content-sha256 (a hex hash shows as "SHA256"), "presigned:" + it for presigned URLs
	trailer             string
	status              int
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := r.Header.Get("X-Amz-Content-Sha256")
	if len(mode) == 64 && !strings.ContainsAny(mode, "-_") {
		mode = "SHA256"
	}
	if r.URL.Query().Get("X-Amz-Algorithm") != "" {
		mode = "presigned:" + mode
	}
	s := served{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, mode: mode, trailer: r.Header.Get("X-Amz-Trailer")}
	sw := &statusRecorder{ResponseWriter: w, status: 200}
	defer func() {
		s.status = sw.status
		rc.mu.Lock()
		rc.seen = append(rc.seen, s)
		rc.mu.Unlock()
	}()
	rc.h.ServeHTTP(sw, r)
}

// find returns the served requests that match.
func (rc *recorder) find(match func(served) bool) []served {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []served
	for _, s := range rc.seen {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ---- small helpers ----

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func now() time.Time { return time.Now() }

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func md5b64(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

// multipartETag is S3's multipart ETag computed independently: the MD5 of
// the concatenated binary MD5s of the parts, then -N.
func multipartETag(parts ...[]byte) string {
	var cat []byte
	for _, p := range parts {
		s := md5.Sum(p)
		cat = append(cat, s[:]...)
	}
	return fmt.Sprintf("%s-%d", md5hex(cat), len(parts))
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }

func mustCreateBucket(t testing.TB, ac *awss3.Client, name string) {
	t.Helper()
	if _, err := ac.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("CreateBucket %s: %v", name, err)
	}
}

func mustPut(t testing.TB, ac *awss3.Client, bucket, key string, data []byte) string {
	t.Helper()
	out, err := ac.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutObject %s/%q: %v", bucket, key, err)
	}
	if got, want := unquote(aws.ToString(out.ETag)), md5hex(data); got != want {
		t.Fatalf("PutObject %q: ETag %s, want MD5 %s", key, got, want)
	}
	return aws.ToString(out.ETag)
}

func mustGet(t testing.TB, ac *awss3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := ac.GetObject(context.Background(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s/%q: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GetObject %s/%q: reading: %v", bucket, key, err)
	}
	return b
}

// awsErr extracts the S3 error code, HTTP status and request ID of an
// aws-sdk-go-v2 error.
func awsErr(err error) (code string, status int, requestID string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status, requestID = re.HTTPStatusCode(), re.ServiceRequestID()
	}
	return code, status, requestID
}

func wantAWSErr(t testing.TB, what string, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded; want %s (%d)", what, code, status)
	}
	c, s, id := awsErr(err)
	if (code != "" && c != code) || s != status {
		t.Fatalf("%s: got code %q status %d (%v); want %s (%d)", what, c, s, err, code, status)
	}
	if id == "" {
		t.Fatalf("%s: the %s error carries no request ID", what, c)
	}
}

func wantMinioErr(t testing.TB, what string, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded; want %s (%d)", what, code, status)
	}
	r := minio.ToErrorResponse(err)
	if (code != "" && r.Code != code) || (status != 0 && r.StatusCode != status) {
		t.Fatalf("%s: got code %q status %d (%v); want %s (%d)", what, r.Code, r.StatusCode, err, code, status)
	}
}

// errorXML is S3's error body.
type errorXML struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

// wantXMLError checks a raw response is an S3 error with code and status,
// an XML body naming the code and the same request ID as its header.
func wantXMLError(t testing.TB, what string, resp *http.Response, body []byte, code string, status int) errorXML {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d (%s); want %d %s", what, resp.StatusCode, body, status, code)
	}
	var e errorXML
	if err := xml.Unmarshal(body, &e); err != nil {
		t.Fatalf("%s: error body is not S3's XML: %v: %q", what, err, body)
	}
	if e.Code != code {
		t.Fatalf("%s: code %q (%s); want %s", what, e.Code, e.Message, code)
	}
	if e.RequestID == "" || e.RequestID != resp.Header.Get("x-amz-request-id") {
		t.Fatalf("%s: RequestId %q in the body, %q in x-amz-request-id", what, e.RequestID, resp.Header.Get("x-amz-request-id"))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "xml") {
		t.Fatalf("%s: error Content-Type %q", what, ct)
	}
	return e
}

// rawRequest builds a request to the gateway; path is escaped as S3
// clients do (each segment, slashes kept).
func (g *gateway) rawRequest(t testing.TB, method, path, query string, body []byte) *http.Request {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: g.addr, Path: path, RawQuery: query}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), r)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sign signs req with SigV4 (aws-sdk-go-v2's signer, set up as for S3:
// the path is escaped once, not twice) declaring payloadHash.
func sign(t testing.TB, req *http.Request, payloadHash string, secret string, at time.Time) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: secret},
		req, payloadHash, "s3", region, at, func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
}

// httpClient is for raw requests; it keeps enough idle connections for
// the tests' concurrent uploads.
var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}

func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", req.Method, req.URL, err)
	}
	return resp, b
}

// putMany stores keys (body(i) for keys[i]) with raw UNSIGNED-PAYLOAD
// PUTs on 32 connections: for tests that need many objects and are about
// something else, where the SDKs' per-request cost would dominate.
func (g *gateway) putMany(t testing.TB, bucket string, keys []string, body func(i int) []byte) {
	t.Helper()
	reqs := make([]*http.Request, len(keys))
	bodies := make([][]byte, len(keys))
	for i, k := range keys {
		bodies[i] = body(i)
		reqs[i] = g.rawRequest(t, "PUT", "/"+bucket+"/"+k, "", bodies[i])
		reqs[i].ContentLength = int64(len(bodies[i]))
	}
	err := forEach(len(keys), 32, func(i int) error {
		req := reqs[i]
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK},
			req, "UNSIGNED-PAYLOAD", "s3", region, time.Now(), func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("ETag") != `"`+md5hex(bodies[i])+`"` {
			return fmt.Errorf("PUT %q: status %d, ETag %s", keys[i], resp.StatusCode, resp.Header.Get("ETag"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// namespaceEntries lists everything under dir in the cluster (recursively).
func (g *gateway) namespaceEntries(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	var walk func(d string, depth int)
	walk = func(d string, depth int) {
		if depth > 64 {
			t.Fatalf("namespace deeper than 64 under %s", dir)
		}
		entries, err := g.c.ReadDir(context.Background(), d)
		if depth == 0 && cairn.KindOf(err) == cairn.NotFound {
			return
		}
		if err != nil {
			t.Fatalf("ReadDir %s: %v", d, err)
		}
		for _, fi := range entries {
			p := d + "/" + fi.Name()
			out = append(out, p)
			if fi.IsDir() {
				walk(p, depth+1)
			}
		}
	}
	walk(dir, 0)
	return out
}

// forEach runs fn(0..n-1) on at most par goroutines and returns the first error.
func forEach(n, par int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, par)
	for i := 0; i < n; i++ {
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
