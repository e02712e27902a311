package sigv4

import (
	"net/http"
	"strconv"
	"time"
)

const (
	credentialPrefix = "Error parsing the X-Amz-Credential parameter; "
	maxPresignExpiry = 7 * 24 * time.Hour // 604800 s
)

// presignParams are the authentication parameters of a presigned URL.
type presignParams struct {
	algorithm, credential, date, expires, signedHeaders, signature string
}

func getPresignParams(params []queryParam) (presignParams, error) {
	var p presignParams
	fields := [...]struct {
		name string
		dst  *string
	}{
		{"X-Amz-Algorithm", &p.algorithm}, {"X-Amz-Credential", &p.credential}, {"X-Amz-Date", &p.date},
		{"X-Amz-Expires", &p.expires}, {"X-Amz-SignedHeaders", &p.signedHeaders},
		{"X-Amz-Signature", &p.signature},
	}
	for _, f := range fields {
		vs := queryValues(params, f.name)
		switch {
		case len(vs) == 0 || vs[0] == "":
			return p, errorf(codeQueryParamsError, "Query-string authentication version 4 requires the "+
				"X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "+
				"X-Amz-Expires parameters; %s is missing.", f.name)
		case len(vs) > 1:
			return p, errorf(codeQueryParamsError, "%s must be given once, not %d times.", f.name, len(vs))
		}
		*f.dst = vs[0]
	}
	if p.algorithm != algorithm {
		return p, errorf(codeQueryParamsError, "X-Amz-Algorithm only supports %q; got %q.", algorithm, p.algorithm)
	}
	return p, nil
}

// parseExpires parses X-Amz-Expires (seconds, 1..604800).
func parseExpires(s string) (time.Duration, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errorf(codeQueryParamsError, "X-Amz-Expires should be a number of seconds; got %q.", s)
	}
	if n < 1 || n > int64(maxPresignExpiry/time.Second) {
		return 0, errorf(codeQueryParamsError, "X-Amz-Expires must be between 1 and 604800 seconds (one week); "+
			"got %d.", n)
	}
	return time.Duration(n) * time.Second, nil
}

// checkValidity refuses a presigned URL that is expired or dated too far in
// the future.
func (v *Verifier) checkValidity(t time.Time, expires time.Duration) error {
	now := v.now()
	if t.After(now.Add(v.maxSkew())) {
		return errorf(codeAccessDenied, "Request is not valid yet: X-Amz-Date %s is more than %s after the "+
			"server's time %s; check the clock of the machine that created the URL.",
			t.Format(amzDateFormat), v.maxSkew(), now.UTC().Format(amzDateFormat))
	}
	if now.After(t.Add(expires)) {
		return &Error{Code: codeAccessDenied, Message: "Request has expired"}
	}
	return nil
}

func (v *Verifier) verifyPresigned(r *http.Request, params []queryParam) (*authState, error) {
	p, err := getPresignParams(params)
	if err != nil {
		return nil, err
	}
	c, ok := parseCredential(p.credential)
	if !ok {
		return nil, errorf(codeQueryParamsError, "%sthe Credential %q is not of the form "+
			"<access-key>/<yyyymmdd>/<region>/s3/aws4_request.", credentialPrefix, p.credential)
	}
	t, err := time.Parse(amzDateFormat, p.date)
	if err != nil {
		return nil, errorf(codeQueryParamsError, "X-Amz-Date must be in the ISO8601 Long Format "+
			"\"yyyyMMdd'T'HHmmss'Z'\"; got %q.", p.date)
	}
	expires, err := parseExpires(p.expires)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(c, p.date, codeQueryParamsError, credentialPrefix); err != nil {
		return nil, err
	}
	if err := v.checkValidity(t, expires); err != nil {
		return nil, err
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		payloadHash = unsignedPayload
	}
	if _, _, err := parsePayloadMode(payloadHash); err != nil {
		return nil, err
	}
	signed, ok := parseSignedHeaders(p.signedHeaders)
	if !ok {
		return nil, errorf(codeQueryParamsError, "X-Amz-SignedHeaders %q is not a ;-separated list of header "+
			"names.", p.signedHeaders)
	}
	if err := checkSignedHeaders(r, signed, codeQueryParamsError, "X-Amz-SignedHeaders: "); err != nil {
		return nil, err
	}
	secret, err := v.lookupSecret(c.accessKey)
	if err != nil {
		return nil, err
	}
	a := &authState{accessKey: c.accessKey, presigned: true, amzDate: p.date, scope: c.scope(),
		signature: p.signature, payloadHash: payloadHash}
	err = v.checkSignature(r, a, secret, c, canonicalQuery(params, true), signed, p.signedHeaders)
	if err != nil {
		return nil, err
	}
	return a, nil
}
