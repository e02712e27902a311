package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/checksum"
)

// checkedBody reads an upload body, computing its CRC32C on the way. It
// turns every way the body can be wrong into a read error, which makes
// client.WriteFile abandon the write without committing:
//
//   - the body failed or ended before Content-Length bytes (Invalid),
//   - the body is larger than the limit (Invalid),
//   - the body's CRC32C differs from the one the client sent (Corrupt).
//
// The last two are detected at the very end, before io.EOF is returned,
// so nothing is committed for them either.
type checkedBody struct {
	r       io.Reader
	path    string
	crc     uint32
	n       int64
	length  int64 // Content-Length, or -1 if unknown
	wantCRC uint32
	hasCRC  bool
}

// newCheckedBody wraps r's body. It fails if the X-Cairn-Crc32c header is
// present but malformed.
func newCheckedBody(w http.ResponseWriter, r *http.Request, p string, limit int64) (*checkedBody, error) {
	b := &checkedBody{r: r.Body, path: p, length: r.ContentLength}
	if limit > 0 {
		b.r = http.MaxBytesReader(w, r.Body, limit)
	}
	if h := r.Header.Get(HeaderCRC); h != "" {
		v, err := strconv.ParseUint(h, 16, 32)
		if err != nil || len(h) > 8 {
			return nil, errInvalid("put", "header %s: %q is not a CRC32C in hex (up to 8 digits)", HeaderCRC, h)
		}
		b.wantCRC, b.hasCRC = uint32(v), true
	}
	return b, nil
}

func (b *checkedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.crc = checksum.Update(b.crc, p[:n])
	b.n += int64(n)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF):
		if b.length >= 0 && b.n != b.length {
			return n, cairn.E("put", cairn.PathArg(b.path), cairn.Invalid,
				fmt.Errorf("request body ended after %d of %d bytes (Content-Length); nothing was written", b.n, b.length))
		}
		if b.hasCRC && b.crc != b.wantCRC {
			return n, cairn.E("put", cairn.PathArg(b.path), cairn.Corrupt,
				fmt.Errorf("request body has CRC32C %08x but %s says %08x; nothing was written", b.crc, HeaderCRC, b.wantCRC))
		}
		return n, io.EOF
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return n, cairn.E("put", cairn.PathArg(b.path), cairn.Invalid,
			fmt.Errorf("request body is larger than the %d-byte upload limit; nothing was written", tooBig.Limit))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return n, cairn.E("put", cairn.PathArg(b.path), cairn.Invalid,
			fmt.Errorf("request body ended after %d bytes, before its declared length; nothing was written", b.n))
	}
	return n, cairn.E("put", cairn.PathArg(b.path), cairn.Invalid,
		fmt.Errorf("reading the request body after %d bytes: %w; nothing was written", b.n, err))
}

// readAhead gives http.ServeContent large reads over a client.File.
// ServeContent copies with a 32 KiB buffer, and every client.File.Read is a
// request to a data node; readAhead fetches a window that starts at 64 KiB
// and doubles up to maxReadAhead while reads stay sequential, so a whole
// file goes in chunk-sized parallel reads and a small Range costs one small
// read.
type readAhead struct {
	f    io.ReaderAt
	size int64
	pos  int64
	buf  []byte // bytes [off, off+len(buf)) of the file
	off  int64
	win  int
	err  error // the last read failure, for the log
}

const (
	minReadAhead = 64 << 10
	maxReadAhead = 8 << 20
)

func newReadAhead(f io.ReaderAt, size int64) *readAhead {
	return &readAhead{f: f, size: size, win: minReadAhead}
}

func (r *readAhead) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.pos < r.off || r.pos >= r.off+int64(len(r.buf)) {
		if r.pos == r.off+int64(len(r.buf)) && len(r.buf) > 0 {
			r.win = min(2*r.win, maxReadAhead) // sequential: widen
		} else {
			r.win = minReadAhead
		}
		n := int(min(int64(max(r.win, len(p))), r.size-r.pos))
		if cap(r.buf) < n {
			r.buf = make([]byte, n)
		}
		r.buf = r.buf[:n]
		k, err := r.f.ReadAt(r.buf, r.pos)
		if k < n && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && (!errors.Is(err, io.EOF) || k != n) {
			r.buf = r.buf[:0]
			r.err = err
			return 0, err
		}
		r.off = r.pos
	}
	k := copy(p, r.buf[r.pos-r.off:])
	r.pos += int64(k)
	return k, nil
}

func (r *readAhead) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	default:
		return r.pos, cairn.E("seek", cairn.Invalid, fmt.Errorf("bad whence %d", whence))
	}
	if offset < 0 {
		return r.pos, cairn.E("seek", cairn.Invalid, fmt.Errorf("negative offset %d", offset))
	}
	r.pos = offset
	return offset, nil
}

// noContent is the ReaderAt behind a HEAD response: ServeContent only seeks.
type noContent struct{}

func (noContent) ReadAt([]byte, int64) (int, error) {
	return 0, cairn.E("head", cairn.Internal, errors.New("HEAD must not read content"))
}
