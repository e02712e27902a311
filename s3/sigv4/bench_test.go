package sigv4

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkVerifyHeader measures Verify for a typical header-signed GET with
// a cached signing key (the steady state of the gateway).
func BenchmarkVerifyHeader(b *testing.B) {
	r := signedServerRequest(b, "GET", "photos/2026/05/img 0001.jpg", "versionId=3&x-id=GetObject", nil)
	r.Header.Set("User-Agent", "aws-sdk-go-v2/1.0 os/linux lang/go#1.26 md/GOOS#linux api/s3#1.0")
	v := testVerifier()
	if _, err := v.Verify(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyHeaderUncached is the same with the key derived every time.
func BenchmarkVerifyHeaderUncached(b *testing.B) {
	r := signedServerRequest(b, "GET", "photos/2026/05/img 0001.jpg", "versionId=3&x-id=GetObject", nil)
	v := testVerifier()
	b.ReportAllocs()
	for b.Loop() {
		v.keys.m.Clear()
		if _, err := v.Verify(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignedChunks measures decoding and verifying a signed aws-chunked
// body (64 KiB chunks); compare with BenchmarkUnsignedTrailer.
func BenchmarkSignedChunks(b *testing.B) {
	benchmarkChunked(b, spec(streamingSigned, randomBytes(4<<20, 1)))
}

// BenchmarkUnsignedTrailer measures the SDK default upload encoding with a
// CRC32 trailer.
func BenchmarkUnsignedTrailer(b *testing.B) {
	data := randomBytes(4<<20, 1)
	benchmarkChunked(b, spec(streamingUnsignedTrailer, data, trailer{"x-amz-checksum-crc32", checksumB64(b, "crc32", data)}))
}

func benchmarkChunked(b *testing.B, s chunkedSpec) {
	r, body := chunkedRequest(b, s)
	v := testVerifier()
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(s.data)))
	b.ReportAllocs()
	for b.Loop() {
		r2 := *r
		r2.Body = io.NopCloser(bytes.NewReader(body))
		res, err := v.Verify(&r2)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{res.Body}, buf); err != nil {
			b.Fatal(err)
		}
	}
}
