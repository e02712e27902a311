package sigv4

import (
	"bufio"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// oddKeys are object keys that clients escape differently.
var oddKeys = []string{
	"plain.txt",
	"a b+c=d.txt",
	"ünïcødé/ключ/日本語.bin",
	"~!*'()",
	"dir/sub dir/file (1).txt",
	"per%cent&amp;#hash?.txt",
	"a//b/",
	"$@,:;[]{}^`|\"<>\\",
	"tab\tnew\nline",
}

var testQueries = []string{
	"",
	"versionId=3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
	"list-type=2&prefix=a%20b&delimiter=%2F&max-keys=10",
	"acl",
	"tagging=&x-id=PutObjectTagging",
	"prefix=a+b&marker=%E2%9C%93",
	"response-content-disposition=attachment%3B%20filename%3D%22a%20b.txt%22&response-content-type=text%2Fplain",
	"z=1&a=2&a=1&A=0",
}

func TestHeaderAuthAccepted(t *testing.T) {
	v := testVerifier()
	body := []byte("hello, cairn")
	for _, method := range []string{"GET", "HEAD", "PUT", "DELETE", "POST"} {
		for _, key := range oddKeys {
			for _, q := range testQueries {
				var b []byte
				if method == "PUT" || method == "POST" {
					b = body
				}
				r := signedServerRequest(t, method, key, q, b)
				res := mustVerifyAndRead(t, v, r, b)
				if res.AccessKey != testAK || res.Presigned || res.DecodedLength != int64(len(b)) {
					t.Fatalf("%s %q ?%s: result %+v", method, key, q, res)
				}
			}
		}
	}
}

// A header that the client signed with extra metadata, spaces and multiple values.
func TestHeaderAuthCanonicalHeaders(t *testing.T) {
	req := clientRequest(t, "PUT", "k", "", []byte("x"))
	req.Header.Set("X-Amz-Meta-Note", "  several   spaces\tand tab  ")
	req.Header.Add("X-Amz-Meta-Multi", "one")
	req.Header.Add("X-Amz-Meta-Multi", " two ")
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Cache-Control", "no-cache")
	signHeader(t, req, sha256Hex([]byte("x")), testTime)
	mustVerifyAndRead(t, testVerifier(), toServer(t, req), []byte("x"))
}

func TestHeaderAuthTampered(t *testing.T) {
	body := []byte("payload")
	cases := map[string]func(r *http.Request){
		"signature byte": func(r *http.Request) {
			h := r.Header.Get("Authorization")
			last := h[len(h)-1]
			repl := byte('0')
			if last == '0' {
				repl = '1'
			}
			r.Header.Set("Authorization", h[:len(h)-1]+string(repl))
		},
		"signed header value": func(r *http.Request) { r.Header.Set("X-Amz-Meta-Color", "bluE") },
		"path":                func(r *http.Request) { r.URL.RawPath = ""; r.URL.Path = "/bucket/kez" },
		"path case":           func(r *http.Request) { r.URL.RawPath = ""; r.URL.Path = "/Bucket/key" },
		"query value":         func(r *http.Request) { r.URL.RawQuery = "versionId=2" },
		"query added":         func(r *http.Request) { r.URL.RawQuery += "&acl" },
		"query removed":       func(r *http.Request) { r.URL.RawQuery = "" },
		"method":              func(r *http.Request) { r.Method = "DELETE" },
		"host":                func(r *http.Request) { r.Host = "evil.test:9000" },
		"date within skew": func(r *http.Request) {
			r.Header.Set("X-Amz-Date", testTime.Add(time.Second).Format(amzDateFormat))
		},
		"payload hash": func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha256Hex([]byte("other"))) },
		"signed headers list": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), ";x-amz-meta-color", "", 1))
			r.Header.Del("X-Amz-Meta-Color")
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			req := clientRequest(t, "PUT", "key", "versionId=1", body)
			req.Header.Set("X-Amz-Meta-Color", "blue")
			signHeader(t, req, sha256Hex(body), testTime)
			r := toServer(t, req)
			tamper(r)
			_, err := testVerifier().Verify(r)
			wantCode(t, err, "SignatureDoesNotMatch")
		})
	}
	t.Run("secret", func(t *testing.T) {
		v := testVerifier()
		v.Secret = func(string) (string, bool) { return testSecret[:len(testSecret)-1] + "k", true }
		_, err := v.Verify(signedServerRequest(t, "GET", "key", "", nil))
		wantCode(t, err, "SignatureDoesNotMatch")
	})
}

func TestHeaderAuthRefused(t *testing.T) {
	at := testTime
	cases := []struct {
		name string
		code string
		make func(t *testing.T) *http.Request
	}{
		{"unknown key", "InvalidAccessKeyId", func(t *testing.T) *http.Request {
			req := clientRequest(t, "GET", "k", "", nil)
			req.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
			creds := testCreds
			creds.AccessKeyID = "AKIDUNKNOWN"
			if err := s3Signer().SignHTTP(t.Context(), creds, req, emptySHA256Hex, "s3", testRegion, at); err != nil {
				t.Fatal(err)
			}
			return toServer(t, req)
		}},
		{"skew past", "RequestTimeTooSkewed", signedAt(at.Add(-16 * time.Minute))},
		{"skew future", "RequestTimeTooSkewed", signedAt(at.Add(16 * time.Minute))},
		{"anonymous", "AccessDenied", func(t *testing.T) *http.Request {
			return toServer(t, clientRequest(t, "GET", "k", "", nil))
		}},
		{"unsigned host", "AuthorizationHeaderMalformed", withAuth("AWS4-HMAC-SHA256 Credential=" + testAK +
			"/20260517/us-east-1/s3/aws4_request, SignedHeaders=x-amz-content-sha256;x-amz-date, Signature=" +
			strings.Repeat("a", 64))},
		{"missing content sha256", "InvalidRequest", func(t *testing.T) *http.Request {
			req := clientRequest(t, "GET", "k", "", nil)
			if err := s3Signer().SignHTTP(t.Context(), testCreds, req, emptySHA256Hex, "s3", testRegion, at); err != nil {
				t.Fatal(err)
			}
			return toServer(t, req)
		}},
		{"malformed content sha256", "InvalidArgument", signedWithHash("abc")},
		{"lowercase mode", "InvalidArgument", signedWithHash("streaming-unsigned-payload-trailer")},
		{"wrong region", "AuthorizationHeaderMalformed", signedFor("eu-west-1", "s3")},
		{"wrong service", "AuthorizationHeaderMalformed", signedFor(testRegion, "ec2")},
		{"scope date", "AuthorizationHeaderMalformed", withAuth("AWS4-HMAC-SHA256 Credential=" + testAK +
			"/20260516/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64))},
		{"terminator", "AuthorizationHeaderMalformed", withAuth("AWS4-HMAC-SHA256 Credential=" + testAK +
			"/20260517/us-east-1/s3/aws4_requests, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("a", 64))},
		{"no signature", "AuthorizationHeaderMalformed", withAuth("AWS4-HMAC-SHA256 Credential=" + testAK +
			"/20260517/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date")},
		{"sigv2", "InvalidRequest", withAuth("AWS " + testAK + ":frJIUN8DYpKDtOLCwo//yllqDzg=")},
		{"sigv4a", "InvalidRequest", withAuth("AWS4-ECDSA-P256-SHA256 Credential=x, SignedHeaders=host, Signature=00")},
		{"unsigned amz header", "AccessDenied", func(t *testing.T) *http.Request {
			r := signedServerRequest(t, "PUT", "k", "", []byte("x"))
			r.Header.Set("X-Amz-Copy-Source", "/other-bucket/secret")
			return r
		}},
		{"both mechanisms", "InvalidArgument", func(t *testing.T) *http.Request {
			r := signedServerRequest(t, "GET", "k", "", nil)
			r.URL.RawQuery = "X-Amz-Algorithm=AWS4-HMAC-SHA256"
			return r
		}},
		{"no date", "AccessDenied", func(t *testing.T) *http.Request {
			r := signedServerRequest(t, "GET", "k", "", nil)
			r.Header.Del("X-Amz-Date")
			return r
		}},
		{"bad date", "AccessDenied", func(t *testing.T) *http.Request {
			r := signedServerRequest(t, "GET", "k", "", nil)
			r.Header.Set("X-Amz-Date", "2026-05-17T10:30:00Z")
			return r
		}},
		{"sigv2 query", "InvalidRequest", func(t *testing.T) *http.Request {
			return toServer(t, clientRequest(t, "GET", "k", "AWSAccessKeyId=AK&Expires=1&Signature=x", nil))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := testVerifier().Verify(c.make(t))
			wantCode(t, err, c.code)
		})
	}
}

func signedAt(at time.Time) func(t *testing.T) *http.Request {
	return func(t *testing.T) *http.Request {
		req := clientRequest(t, "GET", "k", "", nil)
		signHeader(t, req, emptySHA256Hex, at)
		return toServer(t, req)
	}
}

func signedWithHash(hash string) func(t *testing.T) *http.Request {
	return func(t *testing.T) *http.Request {
		req := clientRequest(t, "GET", "k", "", nil)
		signHeader(t, req, hash, testTime)
		return toServer(t, req)
	}
}

func signedFor(region, service string) func(t *testing.T) *http.Request {
	return func(t *testing.T) *http.Request {
		req := clientRequest(t, "GET", "k", "", nil)
		req.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
		if err := s3Signer().SignHTTP(t.Context(), testCreds, req, emptySHA256Hex, service, region, testTime); err != nil {
			t.Fatal(err)
		}
		return toServer(t, req)
	}
}

func withAuth(authz string) func(t *testing.T) *http.Request {
	return func(t *testing.T) *http.Request {
		req := clientRequest(t, "GET", "k", "", nil)
		req.Header.Set("X-Amz-Date", testTime.Format(amzDateFormat))
		req.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
		req.Header.Set("Authorization", authz)
		return toServer(t, req)
	}
}

func TestSkewBoundaryAndEmptyRegion(t *testing.T) {
	v := testVerifier()
	v.MaxSkew = time.Minute
	r := signedAt(testTime.Add(-time.Minute))(t)
	if _, err := v.Verify(r); err != nil {
		t.Fatalf("exactly MaxSkew old: %v", err)
	}
	_, err := v.Verify(signedAt(testTime.Add(-time.Minute - time.Second))(t))
	wantCode(t, err, "RequestTimeTooSkewed")

	v = testVerifier()
	v.Region = ""
	if _, err := v.Verify(signedFor("ap-southeast-2", "s3")(t)); err != nil {
		t.Fatalf("any region accepted when Region is empty: %v", err)
	}
}

// Clients escape paths differently; both the canonical re-encoding and the
// path as sent must verify.
func TestPathEncodingVariants(t *testing.T) {
	v := testVerifier()
	key := "a b!*'()+=$&,;:@~é"
	t.Run("signed as sent by net/url", func(t *testing.T) {
		// The client signs Go's own escaping of the path (not AWS's).
		req := clientRequest(t, "GET", key, "", nil)
		req.URL.RawPath = ""
		signHeader(t, req, emptySHA256Hex, testTime)
		mustVerifyAndRead(t, v, toServer(t, req), nil)
	})
	t.Run("signed canonically, sent by net/url", func(t *testing.T) {
		req := clientRequest(t, "GET", key, "", nil)
		signHeader(t, req, emptySHA256Hex, testTime)
		req.URL.RawPath = ""
		mustVerifyAndRead(t, v, toServer(t, req), nil)
	})
	t.Run("lowercase escapes sent", func(t *testing.T) {
		req := clientRequest(t, "GET", "ü x", "", nil)
		signHeader(t, req, emptySHA256Hex, testTime)
		r := toServer(t, req)
		r.URL.RawPath = "/bucket/%c3%bc%20x"
		mustVerifyAndRead(t, v, r, nil)
	})
	t.Run("escaped slash stays escaped", func(t *testing.T) {
		req := clientRequest(t, "GET", "a/b", "", nil)
		req.URL.RawPath = "/bucket/a%2Fb"
		signHeader(t, req, emptySHA256Hex, testTime)
		mustVerifyAndRead(t, v, toServer(t, req), nil)
	})
}

// The Date header may stand in for X-Amz-Date (signed here from the spec,
// since the SDK always sets X-Amz-Date).
func TestDateHeader(t *testing.T) {
	date := testTime.Format(http.TimeFormat)
	creq := "GET\n/bucket/k\n\ndate:" + date + "\nhost:" + testHost + "\nx-amz-content-sha256:" + emptySHA256Hex +
		"\n\ndate;host;x-amz-content-sha256\n" + emptySHA256Hex
	scope := "20260517/us-east-1/s3/aws4_request"
	sts := "AWS4-HMAC-SHA256\n20260517T103000Z\n" + scope + "\n" + sha256Hex([]byte(creq))
	sig := specSign(specKey(testSecret, "20260517", testRegion), sts)
	raw := "GET /bucket/k HTTP/1.1\r\nHost: " + testHost + "\r\nDate: " + date + "\r\nX-Amz-Content-Sha256: " +
		emptySHA256Hex + "\r\nAuthorization: AWS4-HMAC-SHA256 Credential=" + testAK + "/" + scope +
		",SignedHeaders=date;host;x-amz-content-sha256,Signature=" + sig + "\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	mustVerifyAndRead(t, testVerifier(), r, nil)
}

// The GET Object example of the AWS S3 SigV4 documentation
// (sig-v4-header-based-auth), a known answer from AWS itself.
func TestAWSDocumentationGetObject(t *testing.T) {
	raw := "GET /test.txt HTTP/1.1\r\nHost: examplebucket.s3.amazonaws.com\r\nRange: bytes=0-9\r\n" +
		"x-amz-content-sha256: " + emptySHA256Hex + "\r\nx-amz-date: 20130524T000000Z\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	v := awsDocVerifier()
	mustVerifyAndRead(t, v, r, nil)
}

func awsDocVerifier() *Verifier {
	return &Verifier{
		Secret: func(ak string) (string, bool) {
			return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ak == "AKIAIOSFODNN7EXAMPLE"
		},
		Region: "us-east-1",
		Now:    func() time.Time { return time.Date(2013, 5, 24, 0, 5, 0, 0, time.UTC) },
	}
}

func TestKeyCache(t *testing.T) {
	v := testVerifier()
	r := signedServerRequest(t, "GET", "k", "", nil)
	if _, err := v.Verify(r); err != nil {
		t.Fatal(err)
	}
	if _, ok := v.keys.get(testAK, testSecret, "20260517", testRegion); !ok {
		t.Fatal("signing key not cached after a verified request")
	}
	if _, ok := v.keys.get(testAK, "rotated", "20260517", testRegion); ok {
		t.Fatal("cached key used for a different secret")
	}
	// A failed signature must not populate the cache.
	v2 := testVerifier()
	bad := signedServerRequest(t, "GET", "k", "", nil)
	bad.Header.Set("Authorization", strings.Replace(bad.Header.Get("Authorization"), "Signature=", "Signature=0", 1))
	if _, err := v2.Verify(bad); err == nil {
		t.Fatal("tampered signature accepted")
	}
	if _, ok := v2.keys.get(testAK, testSecret, "20260517", testRegion); ok {
		t.Fatal("key cached for a request whose signature failed")
	}
	// The cache stays bounded.
	var c keyCache
	for i := range maxCachedKeys + 10 {
		c.put("ak", "s", "2026", string(rune(i)), []byte{1})
	}
	n := 0
	c.m.Range(func(any, any) bool { n++; return true })
	if n > maxCachedKeys {
		t.Fatalf("cache holds %d keys, bound %d", n, maxCachedKeys)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Code: "AccessDenied", Message: "nope"}
	if e.Error() != "AccessDenied: nope" {
		t.Fatal(e.Error())
	}
}

// The package doc lists exactly the codes the package can return.
func TestDocListsErrorCodes(t *testing.T) {
	src, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, m := range regexp.MustCompile(`(?m)^\tcode\w+\s*=\s*"(\w+)"$`).FindAllStringSubmatch(string(src), -1) {
		defined = append(defined, m[1])
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "# Error codes")
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^//\t(\w+)$`).FindAllStringSubmatch(section, -1) {
		listed = append(listed, m[1])
	}
	slices.Sort(defined)
	if len(defined) < 10 || !slices.Equal(defined, listed) {
		t.Fatalf("codes defined in errors.go %v, listed in doc.go %v", defined, listed)
	}
}

func TestConcurrentVerify(t *testing.T) {
	v := testVerifier()
	v.Region = ""
	var reqs []*http.Request
	for _, region := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
		for _, key := range oddKeys[:4] {
			req := clientRequest(t, "GET", key, "", nil)
			req.Header.Set("X-Amz-Content-Sha256", emptySHA256Hex)
			if err := s3Signer().SignHTTP(t.Context(), testCreds, req, emptySHA256Hex, "s3", region, testTime); err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, toServer(t, req))
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 200 {
				if _, err := v.Verify(reqs[(g+i)%len(reqs)]); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
