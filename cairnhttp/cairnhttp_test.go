package cairnhttp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cairnfs/cairn"
)

var allKinds = []cairn.Kind{cairn.Other, cairn.Invalid, cairn.NotFound, cairn.Exists, cairn.NotDir,
	cairn.IsDir, cairn.NotEmpty, cairn.Corrupt, cairn.NoSpace, cairn.Unavailable, cairn.NotLeader,
	cairn.Conflict, cairn.Permission, cairn.Canceled, cairn.Internal, cairn.QuotaExceeded}

func TestErrorRoundTripEveryKind(t *testing.T) {
	if len(statusOf) != len(allKinds) {
		t.Errorf("statusOf has %d entries, want %d", len(statusOf), len(allKinds))
	}
	for _, k := range allKinds {
		want, ok := statusOf[k]
		if !ok {
			t.Errorf("statusOf lacks %v", k)
			continue
		}
		err := cairn.E("get", cairn.PathArg("/some/file"), k, errors.New("it broke"))
		rec := httptest.NewRecorder()
		WriteError(rec, err)
		resp := rec.Result()
		if resp.StatusCode != want {
			t.Errorf("kind %v: status %d, want %d", k, resp.StatusCode, want)
		}
		if Status(err) != want {
			t.Errorf("Status(kind %v) = %d, want %d", k, Status(err), want)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("kind %v: Content-Type %q", k, ct)
		}
		back := ReadError(resp)
		if got := cairn.KindOf(back); got != k {
			t.Errorf("kind %v came back as %v (%v)", k, got, back)
		}
		if !strings.Contains(back.Error(), "/some/file") || !strings.Contains(back.Error(), "it broke") {
			t.Errorf("kind %v: message %q lost the original", k, back)
		}
	}
}

func TestWrappedErrorKeepsKind(t *testing.T) {
	err := fmt.Errorf("handler: %w", cairn.E(cairn.NoSpace, errors.New("disk full")))
	rec := httptest.NewRecorder()
	WriteError(rec, err)
	if rec.Code != http.StatusInsufficientStorage {
		t.Errorf("status %d", rec.Code)
	}
	if back := ReadError(rec.Result()); !errors.Is(back, cairn.NoSpace) {
		t.Errorf("kind %v, want NoSpace", cairn.KindOf(back))
	}
}

func TestPlainErrorIs500Other(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, errors.New("mystery"))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
	if back := ReadError(rec.Result()); cairn.KindOf(back) != cairn.Other {
		t.Errorf("kind %v, want Other", cairn.KindOf(back))
	}
}

// response builds an error response without the kind header, as a proxy or
// a foreign server would send it.
func response(code int, body string) *http.Response {
	return &http.Response{StatusCode: code, Status: fmt.Sprintf("%d %s", code, http.StatusText(code)),
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body))}
}

func TestReadErrorWithoutKindHeader(t *testing.T) {
	tests := []struct {
		code int
		kind cairn.Kind
	}{
		{http.StatusNotFound, cairn.NotFound},
		{http.StatusBadRequest, cairn.Invalid},
		{http.StatusForbidden, cairn.Permission},
		{http.StatusServiceUnavailable, cairn.Unavailable},
		{http.StatusInsufficientStorage, cairn.NoSpace},
		{http.StatusInternalServerError, cairn.Other},
		{http.StatusTeapot, cairn.Other},
	}
	for _, tt := range tests {
		back := ReadError(response(tt.code, "upstream said no"))
		if got := cairn.KindOf(back); got != tt.kind {
			t.Errorf("HTTP %d without kind header: kind %v, want %v", tt.code, got, tt.kind)
		}
		if !strings.Contains(back.Error(), "upstream said no") {
			t.Errorf("HTTP %d: message %q lost the body", tt.code, back)
		}
	}
	// An empty body still yields a message naming the status.
	if back := ReadError(response(http.StatusTeapot, "")); !strings.Contains(back.Error(), "418") {
		t.Errorf("empty body: message %q", back)
	}
}

// HTTP 409 is shared by Exists, NotDir, IsDir and NotEmpty. Without the kind
// header ReadError picks one of them by ranging over a map, so the same
// response decodes to different kinds from run to run.
func TestReadErrorWithoutKindHeaderIsDeterministic(t *testing.T) {
	first := cairn.KindOf(ReadError(response(http.StatusConflict, "conflict")))
	for range 200 {
		if got := cairn.KindOf(ReadError(response(http.StatusConflict, "conflict"))); got != first {
			t.Fatal("cairnhttp.ReadError maps a 409 without Cairn-Error-Kind to a random kind (map iteration order): got " +
				first.String() + " and " + got.String())
		}
	}
}

func TestHeldStatus(t *testing.T) {
	// Nothing written: the status can still change, and headers too.
	rec := httptest.NewRecorder()
	h := &HeldStatus{ResponseWriter: rec}
	h.Header().Set("Content-Length", "100")
	h.WriteHeader(http.StatusPartialContent)
	if h.Sent() || rec.Code != http.StatusOK || rec.Flushed {
		t.Fatalf("status went out before the body: sent %v, recorder %d", h.Sent(), rec.Code)
	}
	clear(h.Header())
	WriteError(rec, cairn.E(cairn.Corrupt, errors.New("bad bytes")))
	if rec.Code != http.StatusUnprocessableEntity || rec.Header().Get("Content-Length") != "" {
		t.Fatalf("error after a held status: %d, Content-Length %q", rec.Code, rec.Header().Get("Content-Length"))
	}

	// The first Write sends the first status held.
	rec = httptest.NewRecorder()
	h = &HeldStatus{ResponseWriter: rec}
	h.WriteHeader(http.StatusPartialContent)
	h.WriteHeader(http.StatusTeapot)
	if _, err := h.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if !h.Sent() || rec.Code != http.StatusPartialContent || rec.Body.String() != "abc" {
		t.Fatalf("after Write: sent %v, status %d, body %q", h.Sent(), rec.Code, rec.Body)
	}

	// Release sends a status without a body (304, say).
	rec = httptest.NewRecorder()
	h = &HeldStatus{ResponseWriter: rec}
	h.WriteHeader(http.StatusNotModified)
	h.Release()
	if !h.Sent() || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("after Release: sent %v, status %d, body %q", h.Sent(), rec.Code, rec.Body)
	}
	if h.Unwrap() != rec {
		t.Error("Unwrap does not return the underlying writer")
	}
}
