// Package rpcerr is the wire codec for Cairn errors over gRPC, shared by
// the metadata service (which encodes) and its clients (which decode): the
// one table from error kinds to gRPC codes, the ErrorDetail that carries the
// kind, op and path across, leader hints for NotLeader errors, and the
// retryable mark.
//
// It imports the root package, the generated protobuf messages and gRPC's
// status and codes packages, nothing else of Cairn. Its functions never
// fail: an error that cannot be described exactly is classified by its
// gRPC code (FromStatus) or sent as Unknown with its message (ToStatus).
package rpcerr

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/proto/cairnpb"
)

// codeOf is the one table from Cairn error kinds to gRPC codes. The kind
// itself also travels in an ErrorDetail, so the mapping back is exact.
var codeOf = map[cairn.Kind]codes.Code{
	cairn.Other:         codes.Unknown,
	cairn.Invalid:       codes.InvalidArgument,
	cairn.NotFound:      codes.NotFound,
	cairn.Exists:        codes.AlreadyExists,
	cairn.NotDir:        codes.FailedPrecondition,
	cairn.IsDir:         codes.FailedPrecondition,
	cairn.NotEmpty:      codes.FailedPrecondition,
	cairn.Corrupt:       codes.DataLoss,
	cairn.NoSpace:       codes.ResourceExhausted,
	cairn.Unavailable:   codes.Unavailable,
	cairn.NotLeader:     codes.Unavailable,
	cairn.Conflict:      codes.Aborted,
	cairn.Permission:    codes.PermissionDenied,
	cairn.Canceled:      codes.Canceled,
	cairn.Internal:      codes.Internal,
	cairn.QuotaExceeded: codes.ResourceExhausted,
}

// LeaderHint is attached to NotLeader errors by the server.
type LeaderHint struct {
	ID, Addr string
}

func (h *LeaderHint) Error() string {
	if h.Addr != "" {
		return "the leader is " + h.ID + " at " + h.Addr
	}
	if h.ID != "" {
		return "the leader is " + h.ID
	}
	return "no leader is known yet"
}

// Retryable marks err as transient: the client may send the request again
// (to the same or another peer) and it may succeed.
func Retryable(err error) error { return &retryable{err} }

type retryable struct{ error }

func (r *retryable) Unwrap() error { return r.error }

// Retryable reports true: the error is marked transient.
func (r *retryable) Retryable() bool { return true }

// IsRetryable reports whether err, or an error it wraps, is marked
// transient: it has a Retryable() bool method that returns true. Retryable
// adds such a mark, FromStatus keeps it across the wire (and adds it to
// transport failures), and packages that must not depend on this codec (the
// data-node registry) mark their own errors with the same one-method
// interface.
func IsRetryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}

// ToStatus converts an error into a gRPC status error carrying its kind.
// A nil error stays nil.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && cairn.KindOf(err) == cairn.Other {
		var e *cairn.Error
		if !errors.As(err, &e) {
			return err // already a status (e.g. from a nested call)
		}
	}
	kind := cairn.KindOf(err)
	d := &cairnpb.ErrorDetail{Kind: uint32(kind), Message: err.Error()}
	var e *cairn.Error
	if errors.As(err, &e) {
		d.Op, d.Path = e.Op, e.Path
	}
	var h *LeaderHint
	if errors.As(err, &h) {
		d.LeaderId, d.LeaderAddr = h.ID, h.Addr
	}
	d.Retryable = IsRetryable(err)
	st := status.New(codeOf[kind], err.Error())
	if withD, derr := st.WithDetails(d); derr == nil {
		st = withD
	}
	return st.Err()
}

// FromStatus converts a gRPC error back into a *cairn.Error with the kind the
// server sent. Errors without a Cairn detail are classified by gRPC code.
func FromStatus(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return cairn.E(cairn.Canceled, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	for _, det := range st.Details() {
		d, ok := det.(*cairnpb.ErrorDetail)
		if !ok {
			continue
		}
		// The message already names the op and path; keep it whole.
		e := &cairn.Error{Kind: cairn.Kind(d.Kind), Err: errors.New(d.Message)}
		if e.Kind == cairn.NotLeader {
			e.Err = &LeaderHint{ID: d.LeaderId, Addr: d.LeaderAddr}
		}
		if d.Retryable {
			return Retryable(e)
		}
		return e
	}
	switch st.Code() {
	case codes.Unavailable:
		// No detail: the transport failed (peer down, connection refused).
		return Retryable(cairn.E(cairn.Unavailable, err))
	case codes.Canceled, codes.DeadlineExceeded:
		return cairn.E(cairn.Canceled, err)
	case codes.ResourceExhausted:
		return cairn.E(cairn.Invalid, err)
	}
	return cairn.E(cairn.Other, err)
}
