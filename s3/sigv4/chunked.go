package sigv4

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

const (
	maxSignedChunk  = 16 << 20 // largest signed chunk buffered for verification
	maxLineLen      = 4096     // chunk header or trailer line
	maxTrailerLines = 16
	trailerSigName  = "x-amz-trailer-signature"
)

// chunkSigner verifies the chain of chunk (and trailer) signatures that
// starts at the seed signature.
type chunkSigner struct {
	amzDate, scope string
	prev           string // previous signature, hex
	mac            hash.Hash
}

func newChunkSigner(a *authState) *chunkSigner {
	return &chunkSigner{amzDate: a.amzDate, scope: a.scope, prev: a.signature, mac: hmac.New(sha256.New, a.key)}
}

// verify checks given against HMAC(key, kind\ndate\nscope\nprev\n<rest>)
// and advances the chain on success.
func (s *chunkSigner) verify(kind, rest, given string) bool {
	s.mac.Reset()
	_, _ = io.WriteString(s.mac, kind+"\n"+s.amzDate+"\n"+s.scope+"\n"+s.prev+"\n"+rest)
	var buf [64]byte
	hex.Encode(buf[:], s.mac.Sum(nil))
	if !hmac.Equal(buf[:], []byte(given)) {
		return false
	}
	s.prev = given
	return true
}

func (s *chunkSigner) verifyChunk(data []byte, given string) bool {
	sum := sha256.Sum256(data)
	return s.verify("AWS4-HMAC-SHA256-PAYLOAD", emptySHA256Hex+"\n"+hex.EncodeToString(sum[:]), given)
}

func (s *chunkSigner) verifyTrailer(canonical, given string) bool {
	sum := sha256.Sum256([]byte(canonical))
	return s.verify("AWS4-HMAC-SHA256-TRAILER", hex.EncodeToString(sum[:]), given)
}

// chunkedReader decodes an aws-chunked body, verifying chunk signatures,
// the decoded length and the trailers. It returns io.EOF only once all of
// that checked out; the trailer checksum itself is compared by payloadReader.
type chunkedReader struct {
	br       *bufio.Reader
	mode     payloadMode
	declared int64        // x-amz-decoded-content-length
	total    int64        // decoded bytes announced by chunk headers so far
	chunks   int          // chunk headers read
	sig      *chunkSigner // nil for unsigned chunks
	ck       *checksum    // trailer checksum to fill in, or nil
	buf      []byte       // signed: the current verified chunk
	off      int
	remain   int64 // unsigned: bytes left in the current chunk
	needCRLF bool  // unsigned: the current chunk's data is read, its CRLF is not
	done     bool
	err      error // sticky
}

func newChunkedReader(body io.Reader, a *authState, mode payloadMode, declared int64, ck *checksum) *chunkedReader {
	c := &chunkedReader{br: bufio.NewReaderSize(body, 16<<10), mode: mode, declared: declared}
	if mode.signedChunks() {
		c.sig = newChunkSigner(a)
	}
	if ck != nil && ck.trailer {
		c.ck = ck
	}
	return c
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, c.err
	}
	for c.err == nil {
		switch {
		case c.off < len(c.buf):
			n := copy(p, c.buf[c.off:])
			c.off += n
			return n, nil
		case c.remain > 0:
			return c.readData(p)
		case c.needCRLF:
			c.needCRLF = false
			c.err = c.readCRLF()
		case c.done:
			return 0, io.EOF
		default:
			c.err = c.nextChunk()
		}
	}
	return 0, c.err
}

// readData streams the data of an unsigned chunk.
func (c *chunkedReader) readData(p []byte) (int, error) {
	if int64(len(p)) > c.remain {
		p = p[:c.remain]
	}
	n, err := c.br.Read(p)
	c.remain -= int64(n)
	if c.remain == 0 {
		c.needCRLF = true
	}
	if err != nil && c.remain > 0 {
		c.err = c.bodyErr(err)
	}
	if n == 0 && c.err != nil {
		return 0, c.err
	}
	return n, nil
}

// bodyErr turns a premature end of the body into IncompleteBody; other
// errors (a reset connection, a size limit) pass through.
func (c *chunkedReader) bodyErr(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errIncomplete("The aws-chunked body ended early, after %d of %d decoded bytes; "+
			"the upload was interrupted.", c.total-c.remain, c.declared)
	}
	return err
}

func errFraming(format string, args ...any) *Error {
	return errorf(codeInvalidRequest, "Malformed aws-chunked body: "+format, args...)
}

// readCRLF consumes the CRLF that ends a chunk's data.
func (c *chunkedReader) readCRLF() error {
	b, err := c.br.ReadByte()
	if err == nil && b == '\r' {
		b, err = c.br.ReadByte()
	}
	switch {
	case err != nil:
		return c.bodyErr(err)
	case b != '\n':
		return errFraming("chunk %d is longer than its declared size (no CRLF after its data).", c.chunks)
	}
	return nil
}

// readLine reads one line without its line ending. It returns io.EOF only
// when the body ends exactly at the start of the line; a line cut short is
// IncompleteBody.
func (c *chunkedReader) readLine() (string, error) {
	b, err := c.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(b) > maxLineLen:
		return "", errFraming("a chunk header or trailer line is longer than %d bytes.", maxLineLen)
	case err == io.EOF && len(b) == 0:
		return "", io.EOF
	case err != nil:
		return "", c.bodyErr(err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// parseChunkHeader parses "hex-size[;chunk-signature=sig]".
func parseChunkHeader(line string, signed bool) (int64, string, error) {
	sizeStr, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseUint(strings.TrimSpace(sizeStr), 16, 63)
	if err != nil {
		return 0, "", errFraming("bad chunk header %.80q: want hex-size;chunk-signature=<signature>.", line)
	}
	if !signed {
		return int64(size), "", nil
	}
	sig, ok := strings.CutPrefix(strings.TrimSpace(ext), "chunk-signature=")
	if !ok || len(sig) != 64 {
		return 0, "", errFraming("chunk header %.80q has no chunk-signature=<64 hex digits>; "+
			"x-amz-content-sha256 says chunks are signed.", line)
	}
	return int64(size), sig, nil
}

// nextChunk reads a chunk header and, for signed chunks, the whole chunk.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err == io.EOF {
		return errIncomplete("The aws-chunked body ended after %d of %d decoded bytes, without the final "+
			"0-size chunk; the upload was interrupted.", c.total, c.declared)
	} else if err != nil {
		return err
	}
	size, sig, err := parseChunkHeader(line, c.sig != nil)
	if err != nil {
		return err
	}
	c.chunks++
	if size > c.declared-c.total {
		return errFraming("chunk %d (%d bytes) takes the payload past the %d bytes declared in "+
			"x-amz-decoded-content-length.", c.chunks, size, c.declared)
	}
	switch {
	case size == 0:
		return c.finish(sig)
	case c.sig == nil:
		c.remain = size
		c.total += size
		return nil
	case size > maxSignedChunk:
		return errFraming("signed chunk %d is %d bytes; chunks of at most %d bytes are accepted (SDKs use "+
			"64 KiB); configure a smaller chunk size.", c.chunks, size, maxSignedChunk)
	}
	return c.readSignedChunk(size, sig)
}

// readSignedChunk reads a whole signed chunk and its CRLF and verifies its
// signature before any of it is returned. The buffer grows with the data
// that actually arrives rather than with the declared size.
func (c *chunkedReader) readSignedChunk(size int64, sig string) error {
	buf := c.buf[:0]
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(size, int64(max(2*cap(buf), 64<<10))))
			copy(grown, buf)
			buf = grown
		}
		n, err := c.br.Read(buf[len(buf):min(int64(cap(buf)), size)])
		buf = buf[:len(buf)+n]
		if err != nil && int64(len(buf)) < size {
			c.total += int64(len(buf)) // what arrived, for the message
			return c.bodyErr(err)
		}
	}
	c.buf, c.off = buf, 0
	c.total += size
	if err := c.readCRLF(); err != nil {
		c.buf = c.buf[:0]
		return err
	}
	if !c.sig.verifyChunk(buf, sig) {
		c.buf = c.buf[:0]
		return errorf(codeSignatureMismatch, "The signature of chunk %d does not match (chunk signatures chain "+
			"from the request signature; string to sign AWS4-HMAC-SHA256-PAYLOAD). %s", c.chunks, signatureHint)
	}
	return nil
}

// finish handles the final 0-size chunk: its signature, the decoded length,
// the trailers and the end of the body.
func (c *chunkedReader) finish(sig string) error {
	if c.sig != nil && !c.sig.verifyChunk(nil, sig) {
		return errorf(codeSignatureMismatch, "The signature of the final chunk does not match. %s", signatureHint)
	}
	if c.total != c.declared {
		return errIncomplete("You did not provide the number of bytes specified by "+
			"x-amz-decoded-content-length: the aws-chunked body carried %d of %d bytes.", c.total, c.declared)
	}
	var err error
	if c.mode.trailer() {
		err = c.readTrailers()
	} else {
		err = c.readEnd()
	}
	if err == nil {
		err = c.expectEOF()
	}
	c.done = err == nil
	return err
}

// readEnd consumes the CRLF after the final chunk (tolerating its absence
// at the end of the body).
func (c *chunkedReader) readEnd() error {
	line, err := c.readLine()
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return err
	case line != "":
		return errFraming("unexpected %.80q after the final chunk.", line)
	}
	return nil
}

func (c *chunkedReader) expectEOF() error {
	switch _, err := c.br.ReadByte(); {
	case err == nil:
		return errFraming("unexpected data after the end of the body.")
	case err != io.EOF:
		return err
	}
	return nil
}
