package sigv4

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Verifier checks SigV4-signed requests. Use it by pointer; it caches signing
// keys and is safe for concurrent use once its fields are set.
type Verifier struct {
	// Secret returns the secret key for an access key ID; ok=false if unknown.
	Secret func(accessKey string) (secret string, ok bool)
	// Region, if non-empty, refuses a credential scope for another region;
	// empty accepts any region.
	Region string
	// MaxSkew is the allowed clock skew for header-signed requests (and how
	// far in the future a presigned URL may be dated); 0 = 15 minutes.
	MaxSkew time.Duration
	// Now returns the current time; nil = time.Now.
	Now func() time.Time

	keys keyCache
}

// Result of a verified request.
type Result struct {
	AccessKey string
	Presigned bool
	// Body replaces r.Body: it yields the object payload (aws-chunked framing removed)
	// and, when the payload hash, a chunk signature, a trailing checksum or an
	// x-amz-checksum-* header does not match, returns an *Error instead of io.EOF
	// at (or before) the end. Reading it to EOF with a nil error means the payload is verified.
	Body io.ReadCloser
	// DecodedLength is the payload length: x-amz-decoded-content-length for aws-chunked
	// bodies, else r.ContentLength (-1 if unknown).
	DecodedLength int64
}

// authState is what a verified signature leaves for payload verification.
type authState struct {
	accessKey   string
	presigned   bool
	amzDate     string // yyyymmddThhmmssZ as signed
	scope       string // date/region/s3/aws4_request
	key         []byte // signing key
	signature   string // seed signature for aws-chunked bodies
	payloadHash string // X-Amz-Content-Sha256 value (or UNSIGNED-PAYLOAD)
}

// credential is a parsed Credential / X-Amz-Credential value.
type credential struct {
	accessKey, date, region, service, terminal string
}

func (c credential) scope() string {
	return c.date + "/" + c.region + "/" + c.service + "/" + c.terminal
}

// Verify authenticates r. Anonymous requests (no Authorization header and no
// X-Amz-Algorithm query parameter) are refused with AccessDenied.
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	a, err := v.authenticate(r)
	if err != nil {
		return nil, err
	}
	return v.payload(r, a)
}

func (v *Verifier) authenticate(r *http.Request) (*authState, error) {
	authz := r.Header.Get("Authorization")
	params := parseQuery(r.URL.RawQuery)
	presign := len(queryValues(params, "X-Amz-Algorithm")) > 0
	switch {
	case authz != "" && presign:
		return nil, errorf(codeInvalidArgument, "Only one auth mechanism allowed; send either the Authorization "+
			"header or the X-Amz-Algorithm query parameter (presigned URL), not both.")
	case authz != "":
		return v.verifyHeader(r, authz, params)
	case presign:
		return v.verifyPresigned(r, params)
	case len(queryValues(params, "Signature")) > 0 || len(queryValues(params, "AWSAccessKeyId")) > 0:
		return nil, errUnsupportedAuth()
	}
	return nil, errorf(codeAccessDenied, "Anonymous access is not allowed: sign the request with AWS "+
		"Signature Version 4 (Authorization header or presigned URL).")
}

func errUnsupportedAuth() *Error {
	return errorf(codeInvalidRequest, "The authorization mechanism you have provided is not supported. "+
		"Please use AWS4-HMAC-SHA256.")
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return 15 * time.Minute
}

// parseCredential splits AK/date/region/service/aws4_request.
func parseCredential(s string) (credential, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" {
		return credential{}, false
	}
	return credential{parts[0], parts[1], parts[2], parts[3], parts[4]}, true
}

// checkScope validates the credential scope against the request date and the
// configured region; errors use code and prefix (header or query flavour).
func (v *Verifier) checkScope(c credential, amzDate, code, prefix string) error {
	switch {
	case c.service != serviceS3:
		return errorf(code, "%sincorrect service %q. This endpoint belongs to %q.", prefix, c.service, serviceS3)
	case c.terminal != terminator:
		return errorf(code, "%sincorrect terminal %q. This endpoint uses %q.", prefix, c.terminal, terminator)
	case c.date != amzDate[:8]:
		return errorf(code, "%sInvalid credential date %q. This date is not the same as X-Amz-Date: %q.",
			prefix, c.date, amzDate[:8])
	case v.Region != "" && c.region != v.Region:
		return errorf(code, "%sthe region %q is wrong; expecting %q (sign for region %q).",
			prefix, c.region, v.Region, v.Region)
	}
	return nil
}

// lookupSecret returns the secret for an access key or InvalidAccessKeyId.
func (v *Verifier) lookupSecret(accessKey string) (string, error) {
	if v.Secret != nil {
		if s, ok := v.Secret(accessKey); ok {
			return s, nil
		}
	}
	return "", errorf(codeInvalidAccessKeyID, "The AWS access key ID %q does not exist in our records; "+
		"check the access key configured in your client.", accessKey)
}

// checkSignedHeaders enforces that host and every x-amz-* header are signed.
func checkSignedHeaders(r *http.Request, signed []string, code, prefix string) error {
	if !slices.Contains(signed, "host") {
		return errorf(code, "%sthe host header must be signed (add \"host\" to SignedHeaders).", prefix)
	}
	if h := unsignedAmzHeader(r, signed); h != "" {
		return errorf(codeAccessDenied, "There were headers present in the request which were not signed: %s. "+
			"Every x-amz-* header must be listed in SignedHeaders.", h)
	}
	return nil
}

// checkSignature verifies the request signature, trying the canonical URI
// first and the path exactly as sent second. On success it fills a.key and
// caches it.
func (v *Verifier) checkSignature(r *http.Request, a *authState, secret string, c credential,
	query string, signed []string, signedStr string) error {
	key, cached := v.keys.get(c.accessKey, secret, c.date, c.region)
	matches := func(uri string) bool {
		creq := canonicalRequest(r, uri, query, signed, signedStr, a.payloadHash)
		return signatureMatches(key, stringToSign(a.amzDate, a.scope, creq), a.signature)
	}
	canonURI, rawURI := canonicalURIs(r)
	if !matches(canonURI) && (rawURI == canonURI || !matches(rawURI)) {
		return errSignature(a.accessKey, a.scope)
	}
	if !cached {
		v.keys.put(c.accessKey, secret, c.date, c.region, key)
	}
	a.key = key
	return nil
}
