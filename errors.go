package cairn

import (
	"errors"
	"strings"
)

// Kind classifies an error. Kinds are part of the wire protocol: they travel
// in gRPC statuses and HTTP responses and are mapped back on the other side,
// so callers branch on kinds with errors.Is(err, cairn.NotFound) and never on
// message text. Values must never be renumbered.
type Kind uint8

const (
	Other         Kind = iota // unclassified
	Invalid                   // the request is malformed: bad path, bad argument
	NotFound                  // no such file, directory, chunk or session
	Exists                    // the target already exists
	NotDir                    // a path component, or the target, is not a directory
	IsDir                     // the target is a directory where a file was needed
	NotEmpty                  // the directory is not empty
	Corrupt                   // stored or transmitted bytes fail their checksum
	NoSpace                   // a disk is full, or no node has room
	Unavailable               // a peer or enough replicas cannot be reached; retry
	NotLeader                 // this metadata peer is not the Raft leader; retry at the leader
	Conflict                  // a concurrent change won (version mismatch); re-read and retry
	Permission                // the caller may not do this
	Canceled                  // the caller gave up (context canceled or deadline passed)
	Internal                  // a bug or an unexpected state: report it
	QuotaExceeded             // a directory's quota (bytes or entries) would be exceeded; free space or raise the quota
)

var kindNames = [...]string{
	Other: "other", Invalid: "invalid argument", NotFound: "not found",
	Exists: "already exists", NotDir: "not a directory", IsDir: "is a directory",
	NotEmpty: "directory not empty", Corrupt: "checksum mismatch", NoSpace: "no space",
	Unavailable: "unavailable", NotLeader: "not the metadata leader", Conflict: "conflict",
	Permission: "permission denied", Canceled: "canceled", Internal: "internal error",
	QuotaExceeded: "quota exceeded",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown kind"
}

// Error implements error so that a bare Kind works as a target of errors.Is.
func (k Kind) Error() string { return k.String() }

// Error is Cairn's error: what was being done, on which path, what kind of
// failure, and the underlying cause.
type Error struct {
	Op   string // operation, e.g. "create" or "volume.put"
	Path string // namespace path or chunk ID, if any
	Kind Kind
	Err  error // underlying cause; may be nil
}

// E builds an *Error from its arguments, taken in any order: a string is the
// Op, a PathArg is the Path, a Kind is the Kind, an error is the cause. If the
// cause is itself an *Error and no Kind is given, the cause's Kind is kept.
func E(args ...any) error {
	e := &Error{}
	for _, a := range args {
		switch a := a.(type) {
		case string:
			e.Op = a
		case PathArg:
			e.Path = string(a)
		case Kind:
			e.Kind = a
		case error:
			e.Err = a
		}
	}
	if e.Kind == Other && e.Err != nil {
		e.Kind = KindOf(e.Err)
	}
	return e
}

// PathArg marks a string argument of E as the path rather than the op.
type PathArg string

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
	}
	if e.Path != "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		b.WriteString(e.Path)
	}
	inner := ""
	if e.Err != nil {
		inner = e.Err.Error()
	}
	if e.Kind != Other && !strings.Contains(inner, e.Kind.String()) {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Kind.String())
	}
	if inner != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(inner)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, cairn.NotFound) true for an *Error of that kind.
func (e *Error) Is(target error) bool {
	k, ok := target.(Kind)
	return ok && k == e.Kind && k != Other
}

// KindOf returns the Kind of the first *Error or Kind in err's chain, Canceled
// for context errors, and Other when there is none.
func KindOf(err error) Kind {
	if err == nil {
		return Other
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != Other {
		return e.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	if isContextErr(err) {
		return Canceled
	}
	return Other
}
