package rpcerr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnfs/cairn"
)

var allKinds = []cairn.Kind{cairn.Other, cairn.Invalid, cairn.NotFound, cairn.Exists, cairn.NotDir,
	cairn.IsDir, cairn.NotEmpty, cairn.Corrupt, cairn.NoSpace, cairn.Unavailable, cairn.NotLeader,
	cairn.Conflict, cairn.Permission, cairn.Canceled, cairn.Internal, cairn.QuotaExceeded}

func TestStatusRoundTripEveryKind(t *testing.T) {
	for _, k := range allKinds {
		err := cairn.E("create", cairn.PathArg("/x/y"), k, errors.New("boom"))
		st := ToStatus(err)
		s, ok := status.FromError(st)
		if !ok {
			t.Fatalf("ToStatus(%v) = %T, not a gRPC status", k, st)
		}
		if want, ok := codeOf[k]; !ok || s.Code() != want {
			t.Errorf("kind %v: code %v, want %v (in table: %v)", k, s.Code(), want, ok)
		}
		back := FromStatus(st)
		if got := cairn.KindOf(back); got != k {
			t.Errorf("kind %v came back as %v (%v)", k, got, back)
		}
		if k != cairn.Other && !errors.Is(back, k) {
			t.Errorf("errors.Is(back, %v) = false", k)
		}
		if IsRetryable(back) {
			t.Errorf("kind %v: unmarked error came back retryable", k)
		}
		if k != cairn.NotLeader && !strings.Contains(back.Error(), "/x/y") {
			t.Errorf("kind %v: message %q lost the path", k, back)
		}
	}
}

func TestCodeTableCoversEveryKind(t *testing.T) {
	if len(codeOf) != len(allKinds) {
		t.Errorf("codeOf has %d entries, want %d", len(codeOf), len(allKinds))
	}
	for _, k := range allKinds {
		if _, ok := codeOf[k]; !ok {
			t.Errorf("codeOf lacks %v", k)
		}
	}
}

func TestLeaderHintSurvives(t *testing.T) {
	hint := &LeaderHint{ID: "m2", Addr: "10.0.0.2:7000"}
	err := Retryable(cairn.E("commit", cairn.NotLeader, hint))
	back := FromStatus(ToStatus(err))
	if !errors.Is(back, cairn.NotLeader) {
		t.Fatalf("kind = %v, want NotLeader", cairn.KindOf(back))
	}
	if !IsRetryable(back) {
		t.Error("Retryable flag lost")
	}
	var h *LeaderHint
	if !errors.As(back, &h) {
		t.Fatalf("no LeaderHint in %v", back)
	}
	if *h != *hint {
		t.Errorf("hint = %+v, want %+v", *h, *hint)
	}
	// A NotLeader without a known leader still carries an (empty) hint.
	back = FromStatus(ToStatus(cairn.E(cairn.NotLeader, errors.New("no leader"))))
	if !errors.As(back, &h) || h.Addr != "" {
		t.Errorf("empty hint: %v", back)
	}
}

func TestRetryableSurvives(t *testing.T) {
	for _, k := range []cairn.Kind{cairn.Unavailable, cairn.Internal, cairn.NoSpace} {
		back := FromStatus(ToStatus(Retryable(cairn.E("op", k, errors.New("x")))))
		if !IsRetryable(back) || cairn.KindOf(back) != k {
			t.Errorf("Retryable(%v) came back as retryable=%v kind=%v", k, IsRetryable(back), cairn.KindOf(back))
		}
	}
	// Wrapped with %w before conversion.
	wrapped := fmt.Errorf("ctx: %w", Retryable(cairn.E(cairn.Unavailable, errors.New("x"))))
	if back := FromStatus(ToStatus(wrapped)); !IsRetryable(back) {
		t.Error("Retryable under %w lost")
	}
}

func TestNil(t *testing.T) {
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Error("nil did not stay nil")
	}
}

func TestPlainStatuses(t *testing.T) {
	tests := []struct {
		code      codes.Code
		kind      cairn.Kind
		retryable bool
	}{
		{codes.Unavailable, cairn.Unavailable, true},
		{codes.Canceled, cairn.Canceled, false},
		{codes.DeadlineExceeded, cairn.Canceled, false},
		{codes.Unknown, cairn.Other, false},
		{codes.Internal, cairn.Other, false},
	}
	for _, tt := range tests {
		back := FromStatus(status.Error(tt.code, "transport says no"))
		if cairn.KindOf(back) != tt.kind || IsRetryable(back) != tt.retryable {
			t.Errorf("plain %v: kind %v retryable %v; want %v %v", tt.code, cairn.KindOf(back), IsRetryable(back), tt.kind, tt.retryable)
		}
	}
}

func TestContextErrors(t *testing.T) {
	for _, cerr := range []error{context.Canceled, context.DeadlineExceeded, fmt.Errorf("rpc: %w", context.Canceled)} {
		back := FromStatus(cerr)
		if !errors.Is(back, cairn.Canceled) || IsRetryable(back) {
			t.Errorf("FromStatus(%v) = %v (kind %v)", cerr, back, cairn.KindOf(back))
		}
		// And server side: a context error becomes a Canceled status.
		if got := cairn.KindOf(FromStatus(ToStatus(cerr))); got != cairn.Canceled {
			t.Errorf("round trip of %v = %v", cerr, got)
		}
	}
}

func TestToStatusPassesStatusThrough(t *testing.T) {
	st := status.Error(codes.PermissionDenied, "nested")
	if got := ToStatus(st); got != st {
		t.Errorf("ToStatus changed an existing status: %v", got)
	}
}

func TestNonStatusErrorPassesThrough(t *testing.T) {
	plain := errors.New("not grpc")
	if got := FromStatus(plain); got != plain {
		t.Errorf("FromStatus(plain) = %v", got)
	}
}

// transient is marked retryable by its own method, as the registry does.
type transient struct{ error }

func (transient) Retryable() bool { return true }

func TestOwnRetryableMarkTravels(t *testing.T) {
	err := cairn.E("allocate", cairn.Unavailable, transient{errors.New("nodes are restarting")})
	if !IsRetryable(err) {
		t.Fatal("an error with a Retryable() method returning true is not retryable")
	}
	back := FromStatus(ToStatus(err))
	if !IsRetryable(back) || cairn.KindOf(back) != cairn.Unavailable {
		t.Errorf("came back as retryable=%v kind=%v", IsRetryable(back), cairn.KindOf(back))
	}
	if IsRetryable(cairn.E(cairn.Unavailable, errors.New("plain"))) {
		t.Error("an unmarked error is retryable")
	}
}
