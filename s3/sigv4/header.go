package sigv4

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

const malformedPrefix = "The authorization header is malformed; "

// authHeader is a parsed Authorization header.
type authHeader struct {
	cred          credential
	signedHeaders string
	signature     string
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
func parseAuthorization(h string) (authHeader, error) {
	var a authHeader
	alg, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if alg != algorithm {
		return a, errUnsupportedAuth()
	}
	var cred string
	var seen [3]bool // Credential, SignedHeaders, Signature
	names := [3]string{"Credential", "SignedHeaders", "Signature"}
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		i := slices.Index(names[:], k)
		if !ok || i < 0 || seen[i] {
			return a, errorf(codeHeaderMalformed, "%sexpected Credential=..., SignedHeaders=..., Signature=... "+
				"but got %q.", malformedPrefix, strings.TrimSpace(part))
		}
		seen[i] = true
		switch i {
		case 0:
			cred = val
		case 1:
			a.signedHeaders = val
		case 2:
			a.signature = val
		}
	}
	for i, need := range names {
		if !seen[i] {
			return a, errorf(codeHeaderMalformed, "%smissing %s.", malformedPrefix, need)
		}
	}
	c, ok := parseCredential(cred)
	if !ok {
		return a, errorf(codeHeaderMalformed, "%sthe Credential %q is not of the form "+
			"<access-key>/<yyyymmdd>/<region>/s3/aws4_request.", malformedPrefix, cred)
	}
	a.cred = c
	return a, nil
}

// requestDate returns the signing time of a header-signed request from
// X-Amz-Date or, failing that, Date, as it appears in the string to sign.
func requestDate(r *http.Request) (string, time.Time, error) {
	if s := r.Header.Get("X-Amz-Date"); s != "" {
		if t, err := time.Parse(amzDateFormat, s); err == nil {
			return s, t, nil
		}
	} else if s := r.Header.Get("Date"); s != "" {
		if t, err := http.ParseTime(s); err == nil {
			return t.UTC().Format(amzDateFormat), t, nil
		}
	}
	return "", time.Time{}, errorf(codeAccessDenied, "AWS authentication requires a valid Date or x-amz-date "+
		"header (x-amz-date format yyyyMMdd'T'HHmmss'Z').")
}

// checkSkew refuses a request time too far from the server clock.
func (v *Verifier) checkSkew(t time.Time) error {
	now, skew := v.now(), v.maxSkew()
	if d := now.Sub(t); d > skew || d < -skew {
		return errorf(codeTimeTooSkewed, "The difference between the request time (%s) and the server's time "+
			"(%s) is larger than %s; synchronise the client's clock (NTP).",
			t.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	}
	return nil
}

func (v *Verifier) verifyHeader(r *http.Request, authz string, params []queryParam) (*authState, error) {
	h, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	amzDate, t, err := requestDate(r)
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(h.cred, amzDate, codeHeaderMalformed, malformedPrefix); err != nil {
		return nil, err
	}
	if err := v.checkSkew(t); err != nil {
		return nil, err
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		return nil, errorf(codeInvalidRequest, "Missing required header for this request: x-amz-content-sha256")
	}
	if _, _, err := parsePayloadMode(payloadHash); err != nil {
		return nil, err
	}
	signed, ok := parseSignedHeaders(h.signedHeaders)
	if !ok {
		return nil, errorf(codeHeaderMalformed, "%sSignedHeaders %q is not a ;-separated list of header names.",
			malformedPrefix, h.signedHeaders)
	}
	if err := checkSignedHeaders(r, signed, codeHeaderMalformed, malformedPrefix); err != nil {
		return nil, err
	}
	secret, err := v.lookupSecret(h.cred.accessKey)
	if err != nil {
		return nil, err
	}
	a := &authState{accessKey: h.cred.accessKey, amzDate: amzDate, scope: h.cred.scope(),
		signature: h.signature, payloadHash: payloadHash}
	err = v.checkSignature(r, a, secret, h.cred, canonicalQuery(params, false), signed, h.signedHeaders)
	if err != nil {
		return nil, err
	}
	return a, nil
}
