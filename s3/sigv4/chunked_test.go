package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// chunkedSpec describes an aws-chunked upload for the test encoder.
type chunkedSpec struct {
	mode        string // X-Amz-Content-Sha256
	data        []byte
	chunkSize   int
	trailers    []trailer // sent after the final chunk (x-amz-trailer-signature added for signed modes)
	announce    string    // X-Amz-Trailer; "" = the names of trailers
	declared    int64     // x-amz-decoded-content-length; -1 = len(data); -2 = header omitted
	declaredRaw string    // if set, sent as x-amz-decoded-content-length verbatim
	blankLine   bool      // send an empty line between the final chunk and the trailers
}

// encodeChunked encodes spec.data as an aws-chunked body, written from the
// spec: chunk signatures come from the SDK's StreamSigner, chained from
// seed; the trailer signature is computed here.
func encodeChunked(t testing.TB, spec chunkedSpec, seed string) []byte {
	t.Helper()
	signed := spec.mode != streamingUnsignedTrailer
	var ss *v4.StreamSigner
	if signed {
		seedBytes, err := hex.DecodeString(seed)
		if err != nil {
			t.Fatal(err)
		}
		ss = v4.NewStreamSigner(testCreds, "s3", testRegion, seedBytes)
	}
	sign := func(chunk []byte) string {
		sig, err := ss.GetSignature(context.Background(), nil, chunk, testTime)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(sig)
	}
	var b bytes.Buffer
	for off := 0; off < len(spec.data); off += spec.chunkSize {
		chunk := spec.data[off:min(off+spec.chunkSize, len(spec.data))]
		if signed {
			fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n", len(chunk), sign(chunk))
		} else {
			fmt.Fprintf(&b, "%x\r\n", len(chunk))
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	last := ""
	if signed {
		last = sign(nil)
		b.WriteString("0;chunk-signature=" + last + "\r\n")
	} else {
		b.WriteString("0\r\n")
	}
	if spec.mode == streamingSigned {
		b.WriteString("\r\n")
		return b.Bytes()
	}
	if spec.blankLine {
		b.WriteString("\r\n")
	}
	var canonical strings.Builder
	for _, tr := range spec.trailers {
		b.WriteString(tr.name + ":" + tr.value + "\r\n")
		canonical.WriteString(tr.name + ":" + tr.value + "\n")
	}
	if spec.mode == streamingSignedTrailer {
		sts := "AWS4-HMAC-SHA256-TRAILER\n" + testTime.Format(amzDateFormat) + "\n20260517/" + testRegion +
			"/s3/aws4_request\n" + last + "\n" + sha256Hex([]byte(canonical.String()))
		b.WriteString(trailerSigName + ":" + specSign(specKey(testSecret, "20260517", testRegion), sts) + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// chunkedRequest signs the headers of spec's upload with the SDK signer and
// returns the server-side request and its encoded body.
func chunkedRequest(t testing.TB, spec chunkedSpec) (*http.Request, []byte) {
	t.Helper()
	if spec.chunkSize == 0 {
		spec.chunkSize = 64 << 10
	}
	zeroSeed := strings.Repeat("0", 64)
	req := clientRequest(t, "PUT", "chunked object.bin", "", encodeChunked(t, spec, zeroSeed))
	req.Header.Set("Content-Encoding", "aws-chunked")
	switch {
	case spec.declaredRaw != "":
		req.Header.Set("X-Amz-Decoded-Content-Length", spec.declaredRaw)
	case spec.declared == -1:
		req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(spec.data)))
	case spec.declared == -2:
	default:
		req.Header.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(spec.declared, 10))
	}
	announce := spec.announce
	if announce == "" {
		var names []string
		for _, tr := range spec.trailers {
			names = append(names, tr.name)
		}
		announce = strings.Join(names, ",")
	}
	if announce != "-" && announce != "" {
		req.Header.Set("X-Amz-Trailer", announce)
	}
	signHeader(t, req, spec.mode, testTime)
	body := encodeChunked(t, spec, signatureOf(t, req.Header))
	req.Body = io.NopCloser(bytes.NewReader(body))
	return toServer(t, req), body
}

func spec(mode string, data []byte, trailers ...trailer) chunkedSpec {
	return chunkedSpec{mode: mode, data: data, trailers: trailers, declared: -1}
}

func TestSignedChunkedAccepted(t *testing.T) {
	for _, size := range []int{0, 1, 8191, 65536, 65537, 200_000} {
		for _, chunk := range []int{8192, 65536} {
			data := randomBytes(size, byte(size))
			s := spec(streamingSigned, data)
			s.chunkSize = chunk
			r, _ := chunkedRequest(t, s)
			res := mustVerifyAndRead(t, testVerifier(), r, data)
			if res.DecodedLength != int64(size) {
				t.Fatalf("DecodedLength %d, want %d", res.DecodedLength, size)
			}
		}
	}
}

func TestSignedChunkedTampered(t *testing.T) {
	data := randomBytes(150_000, 9)
	r, body := chunkedRequest(t, spec(streamingSigned, data))
	replay := func(b []byte) (*Result, []byte, error) {
		r2 := r.Clone(t.Context())
		r2.Body = io.NopCloser(bytes.NewReader(b))
		return verifyAndRead(t, testVerifier(), r2)
	}
	if _, got, err := replay(body); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("untampered: %v", err)
	}

	t.Run("data byte in second chunk", func(t *testing.T) {
		b := bytes.Clone(body)
		b[bytes.Index(b, data[70_000:70_032])] ^= 0x20
		_, got, err := replay(b)
		wantCode(t, err, "SignatureDoesNotMatch")
		if !bytes.Equal(got, data[:65536]) {
			t.Fatalf("delivered %d bytes; only the verified first chunk (65536) may be delivered", len(got))
		}
	})
	t.Run("chunk signature", func(t *testing.T) {
		b := bytes.Clone(body)
		i := bytes.Index(b, []byte("chunk-signature=")) + len("chunk-signature=")
		b[i] ^= 1
		_, got, err := replay(b)
		wantCode(t, err, "SignatureDoesNotMatch")
		if len(got) != 0 {
			t.Fatalf("delivered %d bytes of an unverified chunk", len(got))
		}
	})
	t.Run("final chunk signature", func(t *testing.T) {
		b := bytes.Clone(body)
		i := bytes.LastIndex(b, []byte("chunk-signature=")) + len("chunk-signature=")
		b[i] ^= 1
		_, _, err := replay(b)
		wantCode(t, err, "SignatureDoesNotMatch")
	})
	t.Run("data after the end", func(t *testing.T) {
		_, _, err := replay(append(bytes.Clone(body), "x"...))
		wantCode(t, err, "InvalidRequest")
	})
	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 10, 90, 40_000, 65_536 + 90, len(body) - 60, len(body) - 3} {
			_, _, err := replay(body[:n])
			wantCode(t, err, "IncompleteBody")
		}
		r2 := r.Clone(t.Context())
		r2.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:1000]), errReader{io.ErrUnexpectedEOF}))
		_, _, err := verifyAndRead(t, testVerifier(), r2)
		wantCode(t, err, "IncompleteBody")
	})
	t.Run("chunks swapped", func(t *testing.T) {
		d := randomBytes(3000, 4)
		s := spec(streamingSigned, d)
		s.chunkSize = 1000
		r, body := chunkedRequest(t, s)
		frame := len("3e8;chunk-signature=") + 64 + 2 + 1000 + 2 // three equal frames lead the body
		swapped := append(append(append([]byte{}, body[frame:2*frame]...), body[:frame]...), body[2*frame:]...)
		r.Body = io.NopCloser(bytes.NewReader(swapped))
		_, _, err := verifyAndRead(t, testVerifier(), r)
		wantCode(t, err, "SignatureDoesNotMatch")
	})
}

func TestChunkedDecodedLength(t *testing.T) {
	data := randomBytes(1000, 5)
	for _, c := range []struct {
		declared int64
		code     string
	}{{1001, "IncompleteBody"}, {999, "InvalidRequest"}, {0, "InvalidRequest"}} {
		for _, mode := range []string{streamingSigned, streamingUnsignedTrailer} {
			s := spec(mode, data)
			s.declared = c.declared
			r, _ := chunkedRequest(t, s)
			_, _, err := verifyAndRead(t, testVerifier(), r)
			wantCode(t, err, c.code)
		}
	}
	s := spec(streamingSigned, data)
	s.declared = -2
	r, _ := chunkedRequest(t, s)
	_, err := testVerifier().Verify(r)
	wantCode(t, err, "MissingContentLength")

	for _, raw := range []string{"-1", "12abc"} {
		s = spec(streamingSigned, data)
		s.declaredRaw = raw
		r, _ = chunkedRequest(t, s)
		_, err = testVerifier().Verify(r)
		wantCode(t, err, "InvalidArgument")
	}
}

func TestSignedChunkTooLarge(t *testing.T) {
	s := spec(streamingSigned, nil)
	s.declared = 64 << 20
	r, _ := chunkedRequest(t, s)
	r.Body = io.NopCloser(strings.NewReader(fmt.Sprintf("%x;chunk-signature=%s\r\n", maxSignedChunk+1,
		strings.Repeat("0", 64))))
	_, _, err := verifyAndRead(t, testVerifier(), r)
	if e := wantCode(t, err, "InvalidRequest"); !strings.Contains(e.Message, "at most") {
		t.Fatalf("message: %s", e.Message)
	}
}

func TestSignedTrailer(t *testing.T) {
	data := randomBytes(100_000, 6)
	good := trailer{"x-amz-checksum-crc32c", checksumB64(t, "crc32c", data)}
	bad := trailer{"x-amz-checksum-crc32c", checksumB64(t, "crc32c", data[1:])}

	for _, blank := range []bool{false, true} {
		s := spec(streamingSignedTrailer, data, good)
		s.blankLine = blank
		r, _ := chunkedRequest(t, s)
		mustVerifyAndRead(t, testVerifier(), r, data)
	}
	for _, alg := range checksumNames {
		r, _ := chunkedRequest(t, spec(streamingSignedTrailer, data,
			trailer{"x-amz-checksum-" + alg, checksumB64(t, alg, data)}))
		mustVerifyAndRead(t, testVerifier(), r, data)
	}

	r, _ := chunkedRequest(t, spec(streamingSignedTrailer, data, bad))
	_, _, err := verifyAndRead(t, testVerifier(), r)
	if e := wantCode(t, err, "BadDigest"); !strings.Contains(e.Message, "CRC32C") {
		t.Fatalf("message does not name the algorithm: %s", e.Message)
	}

	r, body := chunkedRequest(t, spec(streamingSignedTrailer, data, good))
	tampered := bytes.Replace(body, []byte(good.value), []byte(bad.value), 1)
	r.Body = io.NopCloser(bytes.NewReader(tampered))
	_, _, err = verifyAndRead(t, testVerifier(), r)
	wantCode(t, err, "SignatureDoesNotMatch")

	r, body = chunkedRequest(t, spec(streamingSignedTrailer, data, good))
	i := bytes.Index(body, []byte(trailerSigName))
	r.Body = io.NopCloser(bytes.NewReader(append(bytes.Clone(body[:i]), "\r\n"...)))
	_, _, err = verifyAndRead(t, testVerifier(), r)
	wantCode(t, err, "IncompleteBody")

	s := spec(streamingSignedTrailer, data)
	s.announce = "x-amz-checksum-crc32c"
	r, _ = chunkedRequest(t, s)
	_, _, err = verifyAndRead(t, testVerifier(), r)
	wantCode(t, err, "IncompleteBody")
}

func TestUnsignedTrailer(t *testing.T) {
	data := randomBytes(200_000, 7)
	for _, alg := range checksumNames {
		name := "x-amz-checksum-" + alg
		for _, chunk := range []int{len(data), 65536} {
			s := spec(streamingUnsignedTrailer, data, trailer{name, checksumB64(t, alg, data)})
			s.chunkSize = chunk
			r, _ := chunkedRequest(t, s)
			res := mustVerifyAndRead(t, testVerifier(), r, data)
			if res.DecodedLength != int64(len(data)) {
				t.Fatalf("DecodedLength %d", res.DecodedLength)
			}
		}
		r, _ := chunkedRequest(t, spec(streamingUnsignedTrailer, data, trailer{name, checksumB64(t, alg, data[:10])}))
		_, _, err := verifyAndRead(t, testVerifier(), r)
		if e := wantCode(t, err, "BadDigest"); !strings.Contains(e.Message, strings.ToUpper(alg)) {
			t.Fatalf("message does not name %s: %s", alg, e.Message)
		}
		// A flipped data byte is caught by the checksum.
		r, body := chunkedRequest(t, spec(streamingUnsignedTrailer, data, trailer{name, checksumB64(t, alg, data)}))
		b := bytes.Clone(body)
		b[bytes.Index(b, data[1000:1032])] ^= 1
		r.Body = io.NopCloser(bytes.NewReader(b))
		_, _, err = verifyAndRead(t, testVerifier(), r)
		wantCode(t, err, "BadDigest")
	}

	t.Run("no trailer", func(t *testing.T) {
		r, _ := chunkedRequest(t, spec(streamingUnsignedTrailer, data))
		mustVerifyAndRead(t, testVerifier(), r, data)
	})
	t.Run("announced trailer missing", func(t *testing.T) {
		s := spec(streamingUnsignedTrailer, data)
		s.announce = "x-amz-checksum-sha256"
		r, _ := chunkedRequest(t, s)
		_, _, err := verifyAndRead(t, testVerifier(), r)
		wantCode(t, err, "IncompleteBody")
	})
	t.Run("unsupported trailer", func(t *testing.T) {
		s := spec(streamingUnsignedTrailer, data, trailer{"x-amz-meta-foo", "bar"})
		r, _ := chunkedRequest(t, s)
		_, err := testVerifier().Verify(r)
		wantCode(t, err, "InvalidRequest")
	})
	t.Run("chunk larger than the signed-chunk limit", func(t *testing.T) {
		big := randomBytes(maxSignedChunk+5, 8)
		r, _ := chunkedRequest(t, chunkedSpec{mode: streamingUnsignedTrailer, data: big, chunkSize: len(big),
			declared: -1, trailers: []trailer{{"x-amz-checksum-crc32", checksumB64(t, "crc32", big)}}})
		mustVerifyAndRead(t, testVerifier(), r, big)
	})
}

// The chunked-upload example of the AWS documentation (sigv4-streaming): a
// known answer for the seed and every chunk signature.
func TestAWSDocumentationChunkedUpload(t *testing.T) {
	sigs := []string{
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	}
	var body bytes.Buffer
	for i, n := range []int{65536, 1024, 0} {
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n%s\r\n", n, sigs[i], strings.Repeat("a", n))
	}
	raw := "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\nHost: s3.amazonaws.com\r\n" +
		"x-amz-date: 20130524T000000Z\r\nx-amz-storage-class: REDUCED_REDUNDANCY\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;" +
		"x-amz-decoded-content-length;x-amz-storage-class," +
		"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n" +
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\nContent-Encoding: aws-chunked\r\n" +
		"x-amz-decoded-content-length: 66560\r\nContent-Length: " + strconv.Itoa(body.Len()) + "\r\n\r\n" + body.String()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	mustVerifyAndRead(t, awsDocVerifier(), r, bytes.Repeat([]byte("a"), 66560))
}

// The trailer example of the AWS documentation (sigv4-streaming-trailers):
// known answers for the chunk signatures and the trailer signature, checked
// on the decoder directly from the documented seed signature.
func TestAWSDocumentationTrailerChunks(t *testing.T) {
	sigs := []string{
		"b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
		"1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
		"2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
	}
	var body bytes.Buffer
	for i, n := range []int{65536, 1024} {
		fmt.Fprintf(&body, "%x;chunk-signature=%s\r\n%s\r\n", n, sigs[i], strings.Repeat("a", n))
	}
	body.WriteString("0;chunk-signature=" + sigs[2] + "\r\n" +
		"x-amz-checksum-crc32c:sOO8/Q==\r\n" +
		"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n")
	a := &authState{
		amzDate:   "20130524T000000Z",
		scope:     "20130524/us-east-1/s3/aws4_request",
		key:       specKey("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1"),
		signature: "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
	}
	ck := newChecksum(checksumAlgFor("x-amz-checksum-crc32c"))
	ck.trailer = true
	pr := &payloadReader{src: newChunkedReader(&body, a, modeChunkedSignedTrailer, 66560, ck), body: io.NopCloser(nil), ck: ck}
	got, err := io.ReadAll(pr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
		t.Fatalf("decoded %d bytes", len(got))
	}
}
