package sigv4

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"strconv"
)

// X-Amz-Content-Sha256 values other than a hex SHA-256.
const (
	unsignedPayload          = "UNSIGNED-PAYLOAD"
	streamingSigned          = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedTrailer   = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignedTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

type payloadMode int

const (
	modeUnsigned payloadMode = iota
	modeHash
	modeChunkedSigned
	modeChunkedSignedTrailer
	modeChunkedUnsignedTrailer
)

func (m payloadMode) chunked() bool { return m >= modeChunkedSigned }
func (m payloadMode) signedChunks() bool {
	return m == modeChunkedSigned || m == modeChunkedSignedTrailer
}
func (m payloadMode) trailer() bool {
	return m == modeChunkedSignedTrailer || m == modeChunkedUnsignedTrailer
}

// parsePayloadMode interprets X-Amz-Content-Sha256; for modeHash it returns
// the expected digest.
func parsePayloadMode(v string) (payloadMode, []byte, error) {
	switch v {
	case unsignedPayload:
		return modeUnsigned, nil, nil
	case streamingSigned:
		return modeChunkedSigned, nil, nil
	case streamingSignedTrailer:
		return modeChunkedSignedTrailer, nil, nil
	case streamingUnsignedTrailer:
		return modeChunkedUnsignedTrailer, nil, nil
	}
	if len(v) == 2*sha256.Size {
		if sum, err := hex.DecodeString(v); err == nil {
			return modeHash, sum, nil
		}
	}
	return 0, nil, errorf(codeInvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, %s, %s, %s "+
		"or the hex SHA-256 of the payload; got %q.", streamingSigned, streamingSignedTrailer,
		streamingUnsignedTrailer, v)
}

// payload builds the Result, wiring up the checks the payload mode needs.
func (v *Verifier) payload(r *http.Request, a *authState) (*Result, error) {
	mode, wantSHA, err := parsePayloadMode(a.payloadHash)
	if err != nil {
		return nil, err
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	res := &Result{AccessKey: a.accessKey, Presigned: a.presigned, Body: body, DecodedLength: r.ContentLength}
	ck, err := payloadChecksum(r, mode, a.presigned)
	if err != nil {
		return nil, err
	}
	var src io.Reader = body
	if mode.chunked() {
		n, err := decodedLength(r)
		if err != nil {
			return nil, err
		}
		res.DecodedLength = n
		src = newChunkedReader(body, a, mode, n, ck)
	}
	if mode == modeUnsigned && ck == nil {
		return res, nil
	}
	pr := &payloadReader{src: src, body: body, ck: ck, wantSHA: wantSHA}
	if mode == modeHash {
		pr.sha = sha256.New()
	}
	res.Body = pr
	return res, nil
}

// payloadChecksum returns the one additional checksum to verify (from a
// request header or announced in X-Amz-Trailer), or nil.
func payloadChecksum(r *http.Request, mode payloadMode, presigned bool) (*checksum, error) {
	hdr, err := headerChecksum(r, presigned)
	if err != nil {
		return nil, err
	}
	tr, err := trailerChecksum(r)
	if err != nil {
		return nil, err
	}
	switch {
	case tr != nil && !mode.trailer():
		return nil, errorf(codeInvalidRequest, "X-Amz-Trailer is only allowed with x-amz-content-sha256 %s or "+
			"%s.", streamingSignedTrailer, streamingUnsignedTrailer)
	case tr != nil && hdr != nil:
		return nil, errorf(codeInvalidRequest, "Expecting a single x-amz-checksum- header or trailer. "+
			"Multiple checksum Types are not allowed.")
	case tr != nil:
		return tr, nil
	}
	return hdr, nil
}

// decodedLength parses x-amz-decoded-content-length.
func decodedLength(r *http.Request) (int64, error) {
	s := r.Header.Get("X-Amz-Decoded-Content-Length")
	if s == "" {
		return 0, errorf(codeMissingLength, "You must provide the x-amz-decoded-content-length header "+
			"(the payload length before aws-chunked encoding) with x-amz-content-sha256 STREAMING-*.")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(codeInvalidArgument, "x-amz-decoded-content-length must be a non-negative integer; "+
			"got %q.", s)
	}
	return n, nil
}

// payloadReader hashes the decoded payload as it streams and checks the
// payload hash and additional checksum at the end.
type payloadReader struct {
	src     io.Reader
	body    io.Closer
	sha     hash.Hash // nil unless X-Amz-Content-Sha256 is a digest
	wantSHA []byte
	ck      *checksum // nil if there is no additional checksum
	err     error     // sticky
}

func (p *payloadReader) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.src.Read(b)
	if n > 0 {
		if p.sha != nil {
			p.sha.Write(b[:n])
		}
		if p.ck != nil {
			p.ck.h.Write(b[:n])
		}
	}
	switch {
	case err == io.EOF:
		if verr := p.finish(); verr != nil {
			err = verr
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errIncomplete("The request body ended before its declared length (Content-Length); " +
			"the upload was interrupted.")
	}
	if err != nil {
		p.err = err
	}
	return n, err
}

func (p *payloadReader) finish() error {
	if p.sha != nil {
		if got := p.sha.Sum(nil); !bytes.Equal(got, p.wantSHA) {
			return errorf(codeSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what "+
				"was computed (client sent %x, computed %x); sign the SHA-256 of the exact body bytes.",
				p.wantSHA, got)
		}
	}
	if p.ck != nil {
		return p.ck.verify()
	}
	return nil
}

func (p *payloadReader) Close() error { return p.body.Close() }
