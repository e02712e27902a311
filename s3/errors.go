package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/cairnfs/cairn"
	"github.com/cairnfs/cairn/s3/sigv4"
)

// codes is the one table from S3 error codes to HTTP statuses and default
// messages. Every error the gateway answers goes through it.
var codes = map[string]struct {
	status int
	msg    string
}{
	"AccessDenied":                         {403, "Access Denied."},
	"AuthorizationHeaderMalformed":         {400, "The authorization header is malformed."},
	"AuthorizationQueryParametersError":    {400, "The presigned URL's authorization parameters are malformed."},
	"BadDigest":                            {400, "The Content-MD5 or checksum you specified did not match what was received."},
	"BucketAlreadyExists":                  {409, "The requested bucket name is not available."},
	"BucketAlreadyOwnedByYou":              {409, "Your previous request to create the named bucket succeeded and you already own it."},
	"BucketNotEmpty":                       {409, "The bucket you tried to delete is not empty."},
	"EntityTooLarge":                       {400, "Your proposed upload exceeds the maximum allowed object size."},
	"EntityTooSmall":                       {400, "Your proposed upload is smaller than the minimum allowed object size."},
	"IncompleteBody":                       {400, "You did not provide the number of bytes specified by the Content-Length HTTP header."},
	"InternalError":                        {500, "We encountered an internal error. Please try again."},
	"InvalidAccessKeyId":                   {403, "The AWS access key Id you provided does not exist in our records."},
	"InvalidArgument":                      {400, "Invalid Argument."},
	"InvalidBucketName":                    {400, "The specified bucket is not valid."},
	"InvalidDigest":                        {400, "The Content-MD5 you specified is not valid."},
	"InvalidPart":                          {400, "One or more of the specified parts could not be found or its entity tag did not match."},
	"InvalidPartOrder":                     {400, "The list of parts was not in ascending order."},
	"InvalidRange":                         {416, "The requested range is not satisfiable."},
	"InvalidRequest":                       {400, "Invalid Request."},
	"KeyTooLongError":                      {400, "Your key is too long."},
	"MalformedXML":                         {400, "The XML you provided was not well-formed or did not validate against our published schema."},
	"MalformedPolicy":                      {400, "Policies must be valid JSON and the first byte must be '{'."},
	"MetadataTooLarge":                     {400, "Your metadata headers exceed the maximum allowed metadata size."},
	"MethodNotAllowed":                     {405, "The specified method is not allowed against this resource."},
	"MissingContentLength":                 {411, "You must provide the Content-Length HTTP header."},
	"MissingSecurityHeader":                {400, "Your request is missing a required header."},
	"NoSuchBucket":                         {404, "The specified bucket does not exist."},
	"NoSuchBucketPolicy":                   {404, "The bucket policy does not exist."},
	"NoSuchKey":                            {404, "The specified key does not exist."},
	"NoSuchPublicAccessBlockConfiguration": {404, "The public access block configuration was not found."},
	"NoSuchUpload":                         {404, "The specified multipart upload does not exist."},
	"NotImplemented":                       {501, "A header or query you provided implies functionality that is not implemented."},
	"NotModified":                          {304, "Not Modified."},
	"QuotaExceeded":                        {403, "The upload would exceed a directory quota of the bucket."},
	"OperationAborted":                     {409, "A conflicting operation is in progress against this resource. Please try again."},
	"PreconditionFailed":                   {412, "At least one of the preconditions you specified did not hold."},
	"RequestTimeTooSkewed":                 {403, "The difference between the request time and the server's time is too large."},
	"RequestTimeout":                       {400, "Your socket connection to the server was not read from or written to within the timeout period."},
	"ServiceUnavailable":                   {503, "The service is unavailable. Please retry."},
	"SignatureDoesNotMatch":                {403, "The request signature we calculated does not match the signature you provided. Check your key and signing method."},
	"XAmzContentSHA256Mismatch":            {400, "The provided 'x-amz-content-sha256' header does not match what was computed."},
}

// apiError is an S3 error answer: a code from the table, a message that
// says what went wrong, and the resource it concerns.
type apiError struct {
	Code    string
	Message string
	err     error // the cause, for logs
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }
func (e *apiError) Unwrap() error { return e.err }

// errorf makes an apiError with a specific message.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// errCode makes an apiError with the table's message.
func errCode(code string) *apiError { return &apiError{Code: code, Message: codes[code].msg} }

// toAPI converts any error into an S3 error. notFound is the code a
// NotFound kind becomes here (NoSuchKey, NoSuchBucket, NoSuchUpload).
func toAPI(err error, notFound string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var se *sigv4.Error
	if errors.As(err, &se) {
		return &apiError{Code: se.Code, Message: se.Message, err: err}
	}
	code := "InternalError"
	switch cairn.KindOf(err) {
	case cairn.NotFound:
		code = notFound
	case cairn.Invalid, cairn.NotDir, cairn.IsDir, cairn.Exists:
		code = "InvalidArgument"
	case cairn.Unavailable, cairn.NotLeader, cairn.NoSpace:
		code = "ServiceUnavailable"
	case cairn.Conflict:
		code = "OperationAborted"
	case cairn.Permission:
		code = "AccessDenied"
	case cairn.QuotaExceeded:
		code = "QuotaExceeded"
	case cairn.Canceled:
		code = "RequestTimeout"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		code = "RequestTimeout"
	}
	if code == "" {
		code = "InternalError"
	}
	return &apiError{Code: code, Message: err.Error(), err: err}
}

type errorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	Resource   string   `xml:"Resource,omitempty"`
	BucketName string   `xml:"BucketName,omitempty"`
	Key        string   `xml:"Key,omitempty"`
	RequestID  string   `xml:"RequestId"`
	HostID     string   `xml:"HostId"`
}

// writeError answers with e's status and S3's XML error body (no body for
// HEAD or 304).
func writeError(w http.ResponseWriter, r *http.Request, e *apiError, bucket, key string) {
	c, ok := codes[e.Code]
	if !ok {
		c = codes["InternalError"]
	}
	if c.status == http.StatusNotModified {
		w.WriteHeader(c.status)
		return
	}
	if c.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(c.status)
		return
	}
	body := errorBody{Code: e.Code, Message: e.Message, Resource: r.URL.Path, BucketName: bucket, Key: key,
		RequestID: w.Header().Get("x-amz-request-id"), HostID: w.Header().Get("x-amz-id-2")}
	writeXMLStatus(w, c.status, body)
}

func writeXMLStatus(w http.ResponseWriter, status int, v any) {
	out, err := xml.Marshal(v)
	if err != nil {
		status, out = 500, []byte("<Error><Code>InternalError</Code></Error>")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

func writeXML(w http.ResponseWriter, v any) { writeXMLStatus(w, http.StatusOK, v) }
