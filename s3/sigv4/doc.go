// Package sigv4 verifies AWS Signature Version 4 (SigV4) requests for Cairn's
// S3-compatible gateway.
//
// A Verifier authenticates a request in one of two ways:
//
//   - Header auth: "Authorization: AWS4-HMAC-SHA256 Credential=AK/yyyymmdd/region/s3/aws4_request,
//     SignedHeaders=..., Signature=...", dated by X-Amz-Date (or Date) and
//     accepted within Verifier.MaxSkew (default 15 minutes) of the server
//     clock. X-Amz-Content-Sha256 is required.
//   - Presigned URL: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
//     X-Amz-Expires (1..604800 s), X-Amz-SignedHeaders and X-Amz-Signature in
//     the query string. The payload is UNSIGNED-PAYLOAD unless the request
//     carries an X-Amz-Content-Sha256 header.
//
// Requests with neither are anonymous and refused (AccessDenied). In both
// modes the host header must be signed, and so must every x-amz-* header the
// request carries (as S3 requires), so that a holder of a presigned URL
// cannot add, for example, x-amz-copy-source or x-amz-acl. The canonical URI
// is the request path as sent, each segment re-encoded with AWS's URI
// encoding and not double-encoded (S3 rules); if that does not match, the
// path exactly as sent is tried too, for clients that sign their own
// non-canonical escaping.
//
// Derived signing keys are cached per (access key, date, region), bounded,
// and re-derived when the secret returned for the access key changes.
//
// # Payload modes
//
// Verify checks the headers only; the payload is verified while the caller
// reads Result.Body, which fails with an *Error at (or before) the end when
// it does not verify. A body read to io.EOF with a nil error is verified.
// The mode comes from X-Amz-Content-Sha256:
//
//   - a 64-hex SHA-256: the body's SHA-256 must match (XAmzContentSHA256Mismatch).
//   - UNSIGNED-PAYLOAD: the body is passed through.
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked framing
//     ("hex-size;chunk-signature=sig\r\n data \r\n ... 0;chunk-signature=sig\r\n\r\n"),
//     each chunk signature chained from the seed (request) signature. A chunk
//     is buffered and verified before any of its bytes are returned; chunks
//     larger than 16 MiB are refused.
//   - STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the same, followed by
//     trailer lines and a signed x-amz-trailer-signature.
//   - STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked framing without chunk
//     signatures, followed by trailer lines (what current AWS SDKs send for
//     PutObject and UploadPart over HTTPS). Chunks are streamed, not buffered,
//     so their size is not limited (SDKs send a whole object as one chunk).
//
// For aws-chunked bodies the decoded length must equal
// x-amz-decoded-content-length. The gateway should drop "aws-chunked" from
// Content-Encoding before storing it.
//
// A checksum named in X-Amz-Trailer (x-amz-checksum-crc32, -crc32c,
// -crc64nvme, -sha1 or -sha256: base64 of the big-endian digest) is verified
// against the decoded payload, and so is an x-amz-checksum-<alg> request
// header (or, in a presigned URL, query parameter) in any mode. Only one
// checksum per request is accepted. The x-amz-checksum-* headers of
// CompleteMultipartUpload (POST with uploadId) describe the object, not the
// request body, and are left to the gateway; x-amz-checksum-* headers naming
// other algorithms are ignored. Content-MD5 is the gateway's job.
//
// Errors from the underlying body other than a premature end (for example a
// reset connection) are returned from Result.Body unchanged.
//
// # Error codes
//
// Every failure is an *Error whose Code is one of:
//
//	AccessDenied
//	AuthorizationHeaderMalformed
//	AuthorizationQueryParametersError
//	BadDigest
//	IncompleteBody
//	InvalidAccessKeyId
//	InvalidArgument
//	InvalidRequest
//	MissingContentLength
//	RequestTimeTooSkewed
//	SignatureDoesNotMatch
//	XAmzContentSHA256Mismatch
//
// Verify returns all of them except BadDigest, IncompleteBody and
// XAmzContentSHA256Mismatch; Result.Body returns BadDigest, IncompleteBody,
// InvalidRequest, SignatureDoesNotMatch and XAmzContentSHA256Mismatch.
package sigv4
