// Package cairnhttp holds the HTTP conventions shared by the data port, the
// REST API and their clients: header names and the one table that maps
// error kinds to HTTP statuses and back.
package cairnhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cairnfs/cairn"
)

// Header names of the data protocol (docs/protocol.md).
const (
	HeaderCRC         = "Cairn-Crc32c"       // whole-chunk CRC32C, 8 hex digits
	HeaderChain       = "Cairn-Chain"        // replicas after this one: node@addr,node@addr
	HeaderKind        = "Cairn-Error-Kind"   // error kind number on error responses
	HeaderChunkLength = "Cairn-Chunk-Length" // whole chunk length
	HeaderBlockSize   = "Cairn-Block-Size"   // CRC sub-block size
	HeaderRangeOffset = "Cairn-Range-Offset" // aligned start of the returned bytes in the chunk
	HeaderRangeLength = "Cairn-Range-Length" // number of returned data bytes
	HeaderBlocks      = "Cairn-Blocks"       // number of CRCs that precede the data
	HeaderToken       = "Cairn-Token"        // capability token, base64url without padding
)

// statusOf is the one table from kinds to HTTP statuses.
var statusOf = map[cairn.Kind]int{
	cairn.Other:       http.StatusInternalServerError,
	cairn.Invalid:     http.StatusBadRequest,
	cairn.NotFound:    http.StatusNotFound,
	cairn.Exists:      http.StatusConflict,
	cairn.NotDir:      http.StatusConflict,
	cairn.IsDir:       http.StatusConflict,
	cairn.NotEmpty:    http.StatusConflict,
	cairn.Corrupt:     http.StatusUnprocessableEntity,
	cairn.NoSpace:     http.StatusInsufficientStorage,
	cairn.Unavailable: http.StatusServiceUnavailable,
	cairn.NotLeader:   http.StatusServiceUnavailable,
	cairn.Conflict:    http.StatusPreconditionFailed,
	cairn.Permission:  http.StatusForbidden,
	cairn.Canceled:    499,
	cairn.Internal:    http.StatusInternalServerError,
	// A quota is a storage limit: 507 as WebDAV answers it (RFC 4918), not
	// 403, so that clients do not take it for a credential problem.
	cairn.QuotaExceeded: http.StatusInsufficientStorage,
}

// Status returns the HTTP status for an error's kind.
func Status(err error) int { return statusOf[cairn.KindOf(err)] }

type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

// WriteError writes err as a JSON error response with its kind's status.
func WriteError(w http.ResponseWriter, err error) {
	kind := cairn.KindOf(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(HeaderKind, strconv.Itoa(int(kind)))
	w.WriteHeader(statusOf[kind])
	json.NewEncoder(w).Encode(errorBody{Error: err.Error(), Kind: kind.String()})
}

// ReadError turns an error response back into a *cairn.Error with the kind
// the server sent. It consumes (part of) the body.
func ReadError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb errorBody
	msg := string(body)
	if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
		msg = eb.Error
	}
	kind := cairn.Other
	if k, err := strconv.Atoi(resp.Header.Get(HeaderKind)); err == nil {
		kind = cairn.Kind(k)
	} else {
		// Walk kinds in order so a shared status (409) always maps the same way.
		for k := cairn.Kind(0); int(k) < len(statusOf); k++ {
			if statusOf[k] == resp.StatusCode && k != cairn.Other && k != cairn.NotLeader && k != cairn.Internal {
				kind = k
				break
			}
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("HTTP %s", resp.Status)
	}
	return &cairn.Error{Kind: kind, Err: errors.New(msg)}
}

// HeldStatus is an http.ResponseWriter that holds back the status line
// until the first byte of the body, so a handler whose body fails before
// that byte (a read of the content failing its checksum, say) can still
// answer with an error status instead of a success status and a body cut
// short. Headers set before the first byte can likewise still be changed.
// A handler that may write no body calls Release at the end.
type HeldStatus struct {
	http.ResponseWriter
	status int
	sent   bool
}

// WriteHeader holds code until the first Write or Release; only the first
// code counts, as with net/http.
func (h *HeldStatus) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

// Write sends the held status, then p.
func (h *HeldStatus) Write(p []byte) (int, error) {
	h.Release()
	return h.ResponseWriter.Write(p)
}

// Release sends the held status now, if there is one and it was not sent.
func (h *HeldStatus) Release() {
	if h.sent {
		return
	}
	h.sent = true
	if h.status != 0 {
		h.ResponseWriter.WriteHeader(h.status)
	}
}

// Sent reports whether the status line (and maybe body bytes) went out.
func (h *HeldStatus) Sent() bool { return h.sent }

// Unwrap returns the underlying writer, for http.ResponseController.
func (h *HeldStatus) Unwrap() http.ResponseWriter { return h.ResponseWriter }
