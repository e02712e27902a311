package sigv4

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
)

// mustBeError fails unless err is an *Error (garbage input must never
// surface as anything else, nor panic).
func mustBeError(t *testing.T, err error, input string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code == "" || e.Message == "" {
		t.Fatalf("input %.200q: got %v (%T), want *Error", input, err, err)
	}
}

var authFragments = []string{
	"AWS4-HMAC-SHA256", " ", ",", ", ", "=", "/", ";", "Credential=", "SignedHeaders=", "Signature=",
	testAK, "20260517", "us-east-1", "s3", "aws4_request", "host", "x-amz-date", "x-amz-content-sha256",
	strings.Repeat("a", 64), "", "\t", "AWS", "Credential", "é", "\x00", "==", "//////",
}

func garbageAuth(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(14) {
		if rng.IntN(6) == 0 {
			for range rng.IntN(8) {
				b.WriteByte(byte(rng.IntN(256)))
			}
			continue
		}
		b.WriteString(authFragments[rng.IntN(len(authFragments))])
	}
	return b.String()
}

func TestGarbageAuthorization(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := testVerifier()
	for range 5000 {
		h := garbageAuth(rng)
		r := signedServerRequest(t, "GET", "k", "", nil)
		r.Header.Set("Authorization", h)
		res, err := v.Verify(r)
		if err == nil {
			t.Fatalf("garbage Authorization %q accepted: %+v", h, res)
		}
		mustBeError(t, err, h)
	}
	// Garbage presigned query strings.
	for range 3000 {
		q := "X-Amz-Algorithm=AWS4-HMAC-SHA256"
		for range rng.IntN(8) {
			q += "&" + []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders",
				"X-Amz-Signature", "%zz", "a+b"}[rng.IntN(7)] + "=" + garbageAuth(rng)
		}
		r := toServer(t, clientRequest(t, "GET", "k", "", nil))
		r.URL.RawQuery = q
		if _, err := v.Verify(r); err == nil {
			t.Fatalf("garbage query %q accepted", q)
		} else {
			mustBeError(t, err, q)
		}
	}
}

// mutate returns body with a few random edits: flips, deletions,
// insertions, truncation.
func mutate(rng *rand.Rand, body []byte) []byte {
	b := bytes.Clone(body)
	for range 1 + rng.IntN(4) {
		if len(b) == 0 {
			break
		}
		i := rng.IntN(len(b))
		switch rng.IntN(5) {
		case 0:
			b[i] ^= byte(1 << rng.IntN(8))
		case 1:
			const alphabet = "0123456789abcdefABCDEF;=\r\n:-x"
			b[i] = alphabet[rng.IntN(len(alphabet))]
		case 2:
			b = append(b[:i], b[min(len(b), i+1+rng.IntN(8)):]...)
		case 3:
			const ins = "\r\n0;;=:"
			b = append(b[:i], append([]byte(ins[rng.IntN(len(ins)):]), b[i:]...)...)
		case 4:
			b = b[:i]
		}
	}
	return b
}

// readMutated verifies and reads r with body b; a nil error is only
// acceptable if exactly the original payload came out.
func readMutated(t *testing.T, r *http.Request, b, want []byte) {
	t.Helper()
	r2 := r.Clone(t.Context())
	r2.Body = io.NopCloser(bytes.NewReader(b))
	res, err := testVerifier().Verify(r2)
	if err != nil {
		t.Fatalf("headers refused: %v", err)
	}
	got, err := io.ReadAll(res.Body)
	if err == nil {
		if !bytes.Equal(got, want) {
			t.Fatalf("mutated body %.300q accepted with a different payload (%d bytes)", b, len(got))
		}
		return
	}
	mustBeError(t, err, string(b))
}

func TestGarbageChunkedBodies(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	data := randomBytes(3000, 11)
	specs := []chunkedSpec{
		spec(streamingSigned, data),
		spec(streamingSignedTrailer, data, trailer{"x-amz-checksum-crc32c", checksumB64(t, "crc32c", data)}),
		spec(streamingUnsignedTrailer, data, trailer{"x-amz-checksum-sha1", checksumB64(t, "sha1", data)}),
	}
	for _, s := range specs {
		s.chunkSize = 1000
		r, body := chunkedRequest(t, s)
		for range 3000 {
			readMutated(t, r, mutate(rng, body), data)
		}
		for range 300 { // pure garbage
			g := make([]byte, rng.IntN(300))
			const alphabet = "0123456789abcdef;=\r\n:chunk-signature"
			for i := range g {
				g[i] = alphabet[rng.IntN(len(alphabet))]
			}
			readMutated(t, r, g, data)
		}
	}
}

// FuzzAuthorization runs its seeds under go test; run it with
// go test -fuzz=FuzzAuthorization for more.
func FuzzAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=" + testAK + "/20260517/us-east-1/s3/aws4_request, " +
		"SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e,SignedHeaders=;;,Signature=")
	f.Add("AWS4-HMAC-SHA256")
	f.Add("AWS4-HMAC-SHA256 ,,,==,")
	v := testVerifier()
	f.Fuzz(func(t *testing.T, h string) {
		r := signedServerRequest(t, "GET", "k", "", nil)
		r.Header.Set("Authorization", h)
		if _, err := v.Verify(r); err == nil {
			t.Fatalf("accepted %q", h)
		} else {
			mustBeError(t, err, h)
		}
	})
}

// FuzzChunkedBody runs its seeds under go test; run it with
// go test -fuzz=FuzzChunkedBody for more.
func FuzzChunkedBody(f *testing.F) {
	data := []byte("fuzzing payload")
	s := spec(streamingSignedTrailer, data, trailer{"x-amz-checksum-crc32", checksumB64(f, "crc32", data)})
	r, body := chunkedRequest(f, s)
	f.Add(body)
	f.Add([]byte("0;chunk-signature=\r\n\r\n"))
	f.Add([]byte("f;chunk-signature=" + strings.Repeat("0", 64) + "\r\nfuzzing payload\r\n"))
	f.Add([]byte("ffffffffffffffff\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		readMutated(t, r, b, data)
	})
}
