package sigv4

import "fmt"

// Error is an S3 authentication/integrity failure. Code is the S3 error code
// (e.g. "SignatureDoesNotMatch"); the gateway maps codes to HTTP statuses in its
// own single table, so this package carries no status.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The error codes this package returns (listed in the package doc).
const (
	codeAccessDenied       = "AccessDenied"
	codeHeaderMalformed    = "AuthorizationHeaderMalformed"
	codeQueryParamsError   = "AuthorizationQueryParametersError"
	codeBadDigest          = "BadDigest"
	codeIncompleteBody     = "IncompleteBody"
	codeInvalidAccessKeyID = "InvalidAccessKeyId"
	codeInvalidArgument    = "InvalidArgument"
	codeInvalidRequest     = "InvalidRequest"
	codeMissingLength      = "MissingContentLength"
	codeTimeTooSkewed      = "RequestTimeTooSkewed"
	codeSignatureMismatch  = "SignatureDoesNotMatch"
	codeSHA256Mismatch     = "XAmzContentSHA256Mismatch"
)

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

const signatureHint = "Check your secret access key and signing method (AWS Signature Version 4, service \"s3\", " +
	"path not double-encoded)."

func errSignature(accessKey, scope string) *Error {
	return errorf(codeSignatureMismatch, "The request signature we calculated does not match the signature "+
		"you provided (access key %s, scope %s). %s", accessKey, scope, signatureHint)
}

func errIncomplete(format string, args ...any) *Error {
	return errorf(codeIncompleteBody, format, args...)
}
