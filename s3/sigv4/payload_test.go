package sigv4

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/minio/crc64nvme"
)

// checksumB64 computes an S3 additional checksum independently of checksum.go.
func checksumB64(t testing.TB, alg string, data []byte) string {
	t.Helper()
	var sum []byte
	switch alg {
	case "crc32":
		v := crc32.ChecksumIEEE(data)
		sum = []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	case "crc32c":
		v := crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))
		sum = []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	case "crc64nvme":
		v := crc64nvme.Checksum(data)
		for i := 7; i >= 0; i-- {
			sum = append(sum, byte(v>>(8*i)))
		}
	case "sha1":
		s := sha1.Sum(data)
		sum = s[:]
	case "sha256":
		s := sha256.Sum256(data)
		sum = s[:]
	default:
		t.Fatalf("unknown algorithm %s", alg)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

var checksumNames = []string{"crc32", "crc32c", "crc64nvme", "sha1", "sha256"}

// Known answers for "123456789" (the CRC catalogue check values).
func TestChecksumKnownAnswers(t *testing.T) {
	want := map[string]string{
		"crc32":     "cbf43926",
		"crc32c":    "e3069283",
		"crc64nvme": "ae8b14860a799888",
	}
	for name, hexWant := range want {
		c := newChecksum(checksumAlgFor("x-amz-checksum-" + name))
		c.h.Write([]byte("123456789"))
		if got := hex.EncodeToString(c.h.Sum(nil)); got != hexWant {
			t.Errorf("%s = %s, want %s", name, got, hexWant)
		}
	}
}

func TestSignedPayloadHash(t *testing.T) {
	body := randomBytes(100_000, 1)
	r := signedServerRequest(t, "PUT", "k", "", body)
	res := mustVerifyAndRead(t, testVerifier(), r, body)
	if res.DecodedLength != int64(len(body)) {
		t.Fatalf("DecodedLength %d", res.DecodedLength)
	}

	// Same length, one byte different: the mismatch shows at EOF.
	req := clientRequest(t, "PUT", "k", "", body)
	signHeader(t, req, sha256Hex(body), testTime)
	tampered := bytes.Clone(body)
	tampered[50_000] ^= 1
	req.Body = io.NopCloser(bytes.NewReader(tampered))
	res, err := testVerifier().Verify(toServer(t, req))
	if err != nil {
		t.Fatalf("Verify checks headers only: %v", err)
	}
	data, err := io.ReadAll(res.Body)
	wantCode(t, err, "XAmzContentSHA256Mismatch")
	if len(data) != len(body) {
		t.Fatalf("mismatch reported after %d of %d bytes, want at EOF", len(data), len(body))
	}
	if _, err := res.Body.Read(make([]byte, 1)); err == nil {
		t.Fatal("error is not sticky")
	}
}

func TestSignedPayloadTruncated(t *testing.T) {
	body := []byte("0123456789")
	r := signedServerRequest(t, "PUT", "k", "", body)
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:4]), errReader{io.ErrUnexpectedEOF}))
	_, _, err := verifyAndRead(t, testVerifier(), r)
	wantCode(t, err, "IncompleteBody")
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestUnsignedPayloadPassThrough(t *testing.T) {
	body := []byte("anything")
	req := clientRequest(t, "PUT", "k", "", body)
	signHeader(t, req, unsignedPayload, testTime)
	r := toServer(t, req)
	orig := r.Body
	res, err := testVerifier().Verify(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Body != orig {
		t.Fatal("UNSIGNED-PAYLOAD without checksum should pass the body through")
	}
}

// requestWithChecksumHeader signs a PUT carrying x-amz-checksum-<alg> with the
// given value and sends body.
func requestWithChecksumHeader(t *testing.T, payloadHash, alg, value string, body []byte) *http.Request {
	req := clientRequest(t, "PUT", "k", "", body)
	req.Header.Set("X-Amz-Checksum-"+alg, value)
	req.Header.Set("X-Amz-Sdk-Checksum-Algorithm", strings.ToUpper(alg))
	signHeader(t, req, payloadHash, testTime)
	return toServer(t, req)
}

func TestChecksumHeader(t *testing.T) {
	body := randomBytes(70_000, 2)
	other := randomBytes(70_000, 3)
	for _, alg := range checksumNames {
		for _, hash := range []string{unsignedPayload, sha256Hex(body)} {
			r := requestWithChecksumHeader(t, hash, alg, checksumB64(t, alg, body), body)
			mustVerifyAndRead(t, testVerifier(), r, body)

			r = requestWithChecksumHeader(t, unsignedPayload, alg, checksumB64(t, alg, other), body)
			_, _, err := verifyAndRead(t, testVerifier(), r)
			e := wantCode(t, err, "BadDigest")
			if !strings.Contains(e.Message, strings.ToUpper(alg)) {
				t.Fatalf("message does not name %s: %s", alg, e.Message)
			}
		}
	}
	t.Run("malformed value", func(t *testing.T) {
		r := requestWithChecksumHeader(t, unsignedPayload, "crc32", "not base64!", body)
		_, err := testVerifier().Verify(r)
		wantCode(t, err, "InvalidRequest")
		r = requestWithChecksumHeader(t, unsignedPayload, "sha256", checksumB64(t, "crc32", body), body)
		_, err = testVerifier().Verify(r)
		wantCode(t, err, "InvalidRequest")
	})
	t.Run("two checksums", func(t *testing.T) {
		req := clientRequest(t, "PUT", "k", "", body)
		req.Header.Set("X-Amz-Checksum-Crc32", checksumB64(t, "crc32", body))
		req.Header.Set("X-Amz-Checksum-Sha1", checksumB64(t, "sha1", body))
		signHeader(t, req, unsignedPayload, testTime)
		_, err := testVerifier().Verify(toServer(t, req))
		wantCode(t, err, "InvalidRequest")
	})
	t.Run("complete multipart upload is the gateway's", func(t *testing.T) {
		xml := []byte("<CompleteMultipartUpload></CompleteMultipartUpload>")
		req := clientRequest(t, "POST", "k", "uploadId=abc", xml)
		req.Header.Set("X-Amz-Checksum-Crc32", checksumB64(t, "crc32", []byte("the whole object")))
		req.Header.Set("X-Amz-Checksum-Type", "FULL_OBJECT")
		signHeader(t, req, sha256Hex(xml), testTime)
		mustVerifyAndRead(t, testVerifier(), toServer(t, req), xml)
	})
	t.Run("trailer without trailer mode", func(t *testing.T) {
		req := clientRequest(t, "PUT", "k", "", body)
		req.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
		signHeader(t, req, unsignedPayload, testTime)
		_, err := testVerifier().Verify(toServer(t, req))
		wantCode(t, err, "InvalidRequest")
	})
}
