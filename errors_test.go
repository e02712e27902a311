package cairn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

var allKinds = []Kind{Other, Invalid, NotFound, Exists, NotDir, IsDir, NotEmpty, Corrupt,
	NoSpace, Unavailable, NotLeader, Conflict, Permission, Canceled, Internal, QuotaExceeded}

func TestKindStrings(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range allKinds {
		s := k.String()
		if s == "" || s == "unknown kind" {
			t.Errorf("Kind(%d) has no name", k)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("kinds %d and %d share the name %q", prev, k, s)
		}
		seen[s] = k
		if k.Error() != s {
			t.Errorf("Kind(%d).Error() = %q, want %q", k, k.Error(), s)
		}
	}
	if got := Kind(200).String(); got != "unknown kind" {
		t.Errorf("Kind(200).String() = %q", got)
	}
}

func TestEArguments(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	err := E("create", PathArg("/a/b"), NotFound, cause)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("E returned %T", err)
	}
	if e.Op != "create" || e.Path != "/a/b" || e.Kind != NotFound || e.Err != cause {
		t.Errorf("E fields = %+v", e)
	}
	// Order does not matter.
	err2 := E(cause, NotFound, PathArg("/a/b"), "create")
	if err2.Error() != err.Error() {
		t.Errorf("argument order changed the message: %q vs %q", err2, err)
	}
	msg := err.Error()
	for _, part := range []string{"create", "/a/b", NotFound.String(), cause.Error()} {
		if !strings.Contains(msg, part) {
			t.Errorf("message %q lacks %q", msg, part)
		}
	}
}

func TestErrorMessageDoesNotRepeatKind(t *testing.T) {
	inner := E("volume.get", NotFound, errors.New("chunk x"))
	outer := E("read", inner)
	if n := strings.Count(outer.Error(), NotFound.String()); n != 1 {
		t.Errorf("message %q names the kind %d times, want 1", outer, n)
	}
	if got := E().Error(); got != "" {
		t.Errorf("empty E() message = %q", got)
	}
}

func TestErrorsIs(t *testing.T) {
	for _, k := range allKinds[1:] {
		err := E("op", k, errors.New("cause"))
		if !errors.Is(err, k) {
			t.Errorf("errors.Is(E(%v), %v) = false", k, k)
		}
		if KindOf(err) != k {
			t.Errorf("KindOf(E(%v)) = %v", k, KindOf(err))
		}
		for _, other := range allKinds {
			if other != k && errors.Is(err, other) {
				t.Errorf("errors.Is(E(%v), %v) = true", k, other)
			}
		}
		// Wrapped with %w, the kind is still found.
		wrapped := fmt.Errorf("outer: %w", err)
		if !errors.Is(wrapped, k) || KindOf(wrapped) != k {
			t.Errorf("kind %v lost through %%w: KindOf = %v", k, KindOf(wrapped))
		}
		// A bare Kind is an error of that kind too.
		if !errors.Is(k, k) || KindOf(k) != k || KindOf(fmt.Errorf("x: %w", k)) != k {
			t.Errorf("bare kind %v not recognised", k)
		}
	}
}

func TestOtherKind(t *testing.T) {
	err := E("op", errors.New("plain"))
	if KindOf(err) != Other {
		t.Errorf("KindOf = %v, want Other", KindOf(err))
	}
	// Other is never matched by errors.Is: it means "no kind".
	if errors.Is(err, Other) {
		t.Error("errors.Is(err, Other) = true")
	}
	if KindOf(nil) != Other || KindOf(errors.New("x")) != Other {
		t.Error("KindOf of nil or a plain error is not Other")
	}
}

func TestEKeepsCauseKind(t *testing.T) {
	inner := E("volume.put", NoSpace, errors.New("disk full"))
	outer := E("write", PathArg("/f"), inner)
	if !errors.Is(outer, NoSpace) {
		t.Errorf("E without a Kind lost the cause's kind: %v", KindOf(outer))
	}
	// An explicit kind overrides the cause's.
	over := E("write", Internal, inner)
	if KindOf(over) != Internal || !errors.Is(over, Internal) {
		t.Errorf("explicit kind not used: %v", KindOf(over))
	}
	// The cause stays reachable.
	if !errors.Is(over, inner) {
		t.Error("cause not reachable through Unwrap")
	}
	// The cause's kind through a %w wrapper.
	mid := fmt.Errorf("mid: %w", inner)
	if KindOf(E("x", mid)) != NoSpace {
		t.Errorf("KindOf(E(fmt wrap of NoSpace)) = %v", KindOf(E("x", mid)))
	}
}

func TestContextErrorsAreCanceled(t *testing.T) {
	for _, cerr := range []error{context.Canceled, context.DeadlineExceeded} {
		if KindOf(cerr) != Canceled {
			t.Errorf("KindOf(%v) = %v", cerr, KindOf(cerr))
		}
		wrapped := fmt.Errorf("reading: %w", cerr)
		if KindOf(wrapped) != Canceled {
			t.Errorf("KindOf(wrapped %v) = %v", cerr, KindOf(wrapped))
		}
		e := E("read", wrapped)
		if !errors.Is(e, Canceled) {
			t.Errorf("E(%v) is not Canceled: %v", cerr, KindOf(e))
		}
		if !errors.Is(e, cerr) {
			t.Errorf("E(%v) lost the context error", cerr)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if KindOf(ctx.Err()) != Canceled {
		t.Errorf("KindOf(ctx.Err()) = %v", KindOf(ctx.Err()))
	}
}
