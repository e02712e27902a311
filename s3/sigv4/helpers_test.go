package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

const (
	testAK     = "AKIDCAIRNTEST0000001"
	testSecret = "cairn/Test+Secret=Key0123456789abcdefGHIJ"
	testRegion = "us-east-1"
	testHost   = "s3.cairn.test:9000"
)

var (
	testTime  = time.Date(2026, 5, 17, 10, 30, 0, 0, time.UTC)
	testCreds = aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSecret}
)

// testVerifier knows testAK and has its clock at testTime.
func testVerifier() *Verifier {
	return &Verifier{
		Secret: func(ak string) (string, bool) {
			if ak == testAK {
				return testSecret, true
			}
			return "", false
		},
		Region: testRegion,
		Now:    func() time.Time { return testTime },
	}
}

// s3Signer is aws-sdk-go-v2's SigV4 signer configured as its S3 client
// configures it (no double escaping of the path).
func s3Signer() *v4.Signer {
	return v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// clientRequest builds a client-side request for /bucket/<key>, the path
// escaped the way the AWS SDKs escape it (smithy's EscapePath).
func clientRequest(t testing.TB, method, key, rawQuery string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+testHost+"/", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path = "/bucket/" + key
	req.URL.RawPath = "/bucket/" + httpbinding.EscapePath(key, false)
	req.URL.RawQuery = rawQuery
	return req
}

// signHeader signs req with the SDK signer for payloadHash, setting
// X-Amz-Content-Sha256 first (as the SDK's S3 client does).
func signHeader(t testing.TB, req *http.Request, payloadHash string, at time.Time) {
	t.Helper()
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	if err := s3Signer().SignHTTP(context.Background(), testCreds, req, payloadHash, "s3", testRegion, at); err != nil {
		t.Fatal(err)
	}
}

// toServer sends req through HTTP/1.1 serialization and parsing, giving the
// request a handler would see.
func toServer(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

// signedServerRequest is clientRequest + signHeader (hash of body) + toServer.
func signedServerRequest(t testing.TB, method, key, rawQuery string, body []byte) *http.Request {
	t.Helper()
	req := clientRequest(t, method, key, rawQuery, body)
	signHeader(t, req, sha256Hex(body), testTime)
	return toServer(t, req)
}

// wantCode fails unless err is an *Error with the given code.
func wantCode(t testing.TB, err error, code string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want *Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%s), want %s", e.Code, e.Message, code)
	}
	if e.Message == "" {
		t.Fatalf("error %s has no message", code)
	}
	return e
}

// verifyAndRead runs Verify and reads the whole body.
func verifyAndRead(t testing.TB, v *Verifier, r *http.Request) (*Result, []byte, error) {
	t.Helper()
	res, err := v.Verify(r)
	if err != nil {
		return nil, nil, err
	}
	data, err := io.ReadAll(res.Body)
	if cerr := res.Body.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return res, data, err
}

// mustVerifyAndRead fails the test unless r verifies and its body equals want.
func mustVerifyAndRead(t testing.TB, v *Verifier, r *http.Request, want []byte) *Result {
	t.Helper()
	res, data, err := verifyAndRead(t, v, r)
	if err != nil {
		t.Fatalf("verify/read: %v", err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("body: got %d bytes, want %d (equal=%v)", len(data), len(want), bytes.Equal(data, want))
	}
	return res
}

// signatureOf extracts the Signature from an Authorization header.
func signatureOf(t testing.TB, h http.Header) string {
	t.Helper()
	_, sig, ok := strings.Cut(h.Get("Authorization"), "Signature=")
	if !ok {
		t.Fatalf("no signature in %q", h.Get("Authorization"))
	}
	return sig
}

// specKey derives a SigV4 signing key straight from the spec (test-only,
// for the trailer signature, which the SDK signer does not produce).
func specKey(secret, date, region string) []byte {
	mac := func(k []byte, s string) []byte {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	return mac(mac(mac(mac([]byte("AWS4"+secret), date), region), "s3"), "aws4_request")
}

func specSign(key []byte, sts string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil))
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}
