package sigv4

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// presign presigns a request with the SDK signer (as the S3 presign client
// does: UNSIGNED-PAYLOAD unless payloadHash is given) and returns the
// server-side request a client following the URL would send.
func presign(t *testing.T, method, key, rawQuery string, expires int, body []byte, payloadHash string,
	hdr http.Header) *http.Request {
	t.Helper()
	req := clientRequest(t, method, key, rawQuery, nil)
	q := req.URL.Query()
	q.Set("X-Amz-Expires", strconv.Itoa(expires))
	req.URL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	hash := unsignedPayload
	if payloadHash != "" {
		hash = payloadHash
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	signedURL, signedHdr, err := s3Signer().PresignHTTP(t.Context(), testCreds, req, hash, "s3", testRegion, testTime)
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequest(method, signedURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range signedHdr {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return toServer(t, out)
}

func TestPresignedAccepted(t *testing.T) {
	v := testVerifier()
	for _, key := range oddKeys {
		for _, q := range []string{"", "response-content-type=text%2Fplain&versionId=7"} {
			r := presign(t, "GET", key, q, 3600, nil, "", nil)
			res := mustVerifyAndRead(t, v, r, nil)
			if !res.Presigned || res.AccessKey != testAK {
				t.Fatalf("result %+v", res)
			}
		}
	}
	body := []byte("presigned put body")
	r := presign(t, "PUT", "up load.bin", "", 600, body, "", http.Header{"Content-Type": {"application/x-test"}})
	res := mustVerifyAndRead(t, v, r, body)
	if res.DecodedLength != int64(len(body)) {
		t.Fatalf("DecodedLength %d", res.DecodedLength)
	}
	// A signed x-amz-meta-* header.
	r = presign(t, "PUT", "meta", "", 600, body, "", http.Header{"X-Amz-Meta-A": {"b"}})
	mustVerifyAndRead(t, v, r, body)
}

func TestPresignedExpiry(t *testing.T) {
	r := func() *http.Request { return presign(t, "GET", "k", "", 3600, nil, "", nil) }
	v := testVerifier()
	v.Now = func() time.Time { return testTime.Add(3600 * time.Second) }
	if _, err := v.Verify(r()); err != nil {
		t.Fatalf("at the expiry instant: %v", err)
	}
	v.Now = func() time.Time { return testTime.Add(3601 * time.Second) }
	_, err := v.Verify(r())
	if e := wantCode(t, err, "AccessDenied"); e.Message != "Request has expired" {
		t.Fatalf("message %q", e.Message)
	}
	// A week is the longest validity, as with AWS.
	v.Now = func() time.Time { return testTime.Add(6 * 24 * time.Hour) }
	if _, err := v.Verify(presign(t, "GET", "k", "", 604800, nil, "", nil)); err != nil {
		t.Fatalf("one-week URL after six days: %v", err)
	}
	for _, exp := range []int{604801, 0, -5} {
		_, err := testVerifier().Verify(presign(t, "GET", "k", "", exp, nil, "", nil))
		wantCode(t, err, "AuthorizationQueryParametersError")
	}
	// Dated too far in the future.
	v.Now = func() time.Time { return testTime.Add(-16 * time.Minute) }
	_, err = v.Verify(r())
	wantCode(t, err, "AccessDenied")
	v.Now = func() time.Time { return testTime.Add(-14 * time.Minute) }
	if _, err := v.Verify(r()); err != nil {
		t.Fatalf("within skew in the future: %v", err)
	}
}

func TestPresignedRefused(t *testing.T) {
	edit := func(f func(q url.Values)) func(t *testing.T) *http.Request {
		return func(t *testing.T) *http.Request {
			r := presign(t, "GET", "k", "versionId=1", 3600, nil, "", nil)
			q := r.URL.Query()
			f(q)
			r.URL.RawQuery = q.Encode()
			return r
		}
	}
	flip := func(s string) string {
		if s[0] == 'a' {
			return "b" + s[1:]
		}
		return "a" + s[1:]
	}
	cases := []struct {
		name, code string
		make       func(t *testing.T) *http.Request
	}{
		{"signature byte", "SignatureDoesNotMatch", edit(func(q url.Values) {
			q.Set("X-Amz-Signature", flip(q.Get("X-Amz-Signature")))
		})},
		{"expires changed", "SignatureDoesNotMatch", edit(func(q url.Values) { q.Set("X-Amz-Expires", "3601") })},
		{"query changed", "SignatureDoesNotMatch", edit(func(q url.Values) { q.Set("versionId", "2") })},
		{"query added", "SignatureDoesNotMatch", edit(func(q url.Values) { q.Set("acl", "") })},
		{"path changed", "SignatureDoesNotMatch", func(t *testing.T) *http.Request {
			r := presign(t, "GET", "k", "", 3600, nil, "", nil)
			r.URL.Path, r.URL.RawPath = "/bucket/other", ""
			return r
		}},
		{"method changed", "SignatureDoesNotMatch", func(t *testing.T) *http.Request {
			r := presign(t, "GET", "k", "", 3600, nil, "", nil)
			r.Method = "PUT"
			return r
		}},
		{"missing signature", "AuthorizationQueryParametersError", edit(func(q url.Values) { q.Del("X-Amz-Signature") })},
		{"missing expires", "AuthorizationQueryParametersError", edit(func(q url.Values) { q.Del("X-Amz-Expires") })},
		{"duplicate date", "AuthorizationQueryParametersError", edit(func(q url.Values) { q.Add("X-Amz-Date", "x") })},
		{"algorithm", "AuthorizationQueryParametersError", edit(func(q url.Values) {
			q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA1")
		})},
		{"bad date", "AuthorizationQueryParametersError", edit(func(q url.Values) { q.Set("X-Amz-Date", "20260517") })},
		{"bad credential", "AuthorizationQueryParametersError", edit(func(q url.Values) { q.Set("X-Amz-Credential", "AK") })},
		{"wrong region", "AuthorizationQueryParametersError", edit(func(q url.Values) {
			q.Set("X-Amz-Credential", strings.Replace(q.Get("X-Amz-Credential"), testRegion, "eu-north-1", 1))
		})},
		{"wrong service", "AuthorizationQueryParametersError", edit(func(q url.Values) {
			q.Set("X-Amz-Credential", strings.Replace(q.Get("X-Amz-Credential"), "/s3/", "/sqs/", 1))
		})},
		{"unsigned host", "AuthorizationQueryParametersError", edit(func(q url.Values) {
			q.Set("X-Amz-SignedHeaders", "x-amz-date")
		})},
		{"unknown key", "InvalidAccessKeyId", edit(func(q url.Values) {
			q.Set("X-Amz-Credential", strings.Replace(q.Get("X-Amz-Credential"), testAK, "AKIDNOBODY", 1))
		})},
		{"unsigned amz header added", "AccessDenied", func(t *testing.T) *http.Request {
			r := presign(t, "PUT", "k", "", 3600, []byte("x"), "", nil)
			r.Header.Set("X-Amz-Copy-Source", "/private/secret")
			return r
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := testVerifier().Verify(c.make(t))
			wantCode(t, err, c.code)
		})
	}
}

// A presigned PUT may sign the payload hash through a signed
// X-Amz-Content-Sha256 header; the body is then checked against it.
func TestPresignedSignedPayload(t *testing.T) {
	body := []byte("exact bytes")
	r := presign(t, "PUT", "k", "", 3600, body, sha256Hex(body), nil)
	mustVerifyAndRead(t, testVerifier(), r, body)

	r = presign(t, "PUT", "k", "", 3600, []byte("exact bytez"), sha256Hex(body), nil)
	_, _, err := verifyAndRead(t, testVerifier(), r)
	wantCode(t, err, "XAmzContentSHA256Mismatch")
}

// A checksum hoisted into a presigned URL's query (as some clients do with
// x-amz-* headers) is verified like the header.
func TestPresignedChecksumInQuery(t *testing.T) {
	body := []byte("checked upload")
	q := "x-amz-checksum-crc32=" + url.QueryEscape(checksumB64(t, "crc32", body))
	mustVerifyAndRead(t, testVerifier(), presign(t, "PUT", "k", q, 60, body, "", nil), body)

	r := presign(t, "PUT", "k", q, 60, []byte("checked uploaD"), "", nil)
	_, _, err := verifyAndRead(t, testVerifier(), r)
	wantCode(t, err, "BadDigest")
}
