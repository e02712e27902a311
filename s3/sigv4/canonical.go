package sigv4

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// unreserved reports whether c is in RFC 3986's unreserved set, the only
// bytes SigV4's URI encoding leaves alone.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// uriEncode appends s to b with AWS's URI encoding: every byte outside the
// unreserved set becomes %XX (uppercase hex); '/' is kept when keepSlash.
func uriEncode(b []byte, s string, keepSlash bool) []byte {
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || c == '/' && keepSlash {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return b
}

func encoded(s string, keepSlash bool) string {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (s[i] != '/' || !keepSlash) {
			return string(uriEncode(make([]byte, 0, len(s)+16), s, keepSlash))
		}
	}
	return s
}

// canonicalURIs returns the canonical URI of r (each segment of the path as
// sent decoded and re-encoded with AWS's encoding; S3 does not double-encode)
// and the escaped path exactly as sent, which some clients sign instead.
func canonicalURIs(r *http.Request) (canonical, asSent string) {
	asSent = r.URL.EscapedPath()
	if asSent == "" {
		asSent = "/"
	}
	if isCanonicalPath(asSent) {
		return asSent, asSent
	}
	b := make([]byte, 0, len(asSent)+16)
	for i, seg := range strings.Split(asSent, "/") {
		if i > 0 {
			b = append(b, '/')
		}
		if dec, err := url.PathUnescape(seg); err == nil {
			seg = dec
		}
		b = uriEncode(b, seg, false)
	}
	return string(b), asSent
}

// isCanonicalPath reports whether an escaped path is already in AWS's
// encoding: only unreserved bytes, '/' and uppercase %XX escapes of bytes
// that must be escaped.
func isCanonicalPath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) || c == '/' {
			continue
		}
		if c != '%' || i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) ||
			unreserved(unhex(p[i+1])<<4|unhex(p[i+2])) {
			return false
		}
		i += 2
	}
	return true
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// hasPrefixFold reports whether s starts with the lowercase prefix,
// ignoring ASCII case, without allocating.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// queryParam is one decoded query parameter.
type queryParam struct{ key, value string }

// parseQuery splits a raw query string on '&' and decodes each name and
// value ('+' is a space, as S3 reads it). A part that does not decode is
// kept verbatim. Parameters without '=' get an empty value.
func parseQuery(raw string) []queryParam {
	if raw == "" {
		return nil
	}
	params := make([]queryParam, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		params = append(params, queryParam{unescapeQuery(k), unescapeQuery(v)})
	}
	return params
}

func unescapeQuery(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if dec, err := url.QueryUnescape(s); err == nil {
		return dec
	}
	return s
}

// queryValues returns the values of parameter name.
func queryValues(params []queryParam, name string) []string {
	var vs []string
	for _, p := range params {
		if p.key == name {
			vs = append(vs, p.value)
		}
	}
	return vs
}

// canonicalQuery returns the canonical query string: names and values
// AWS-encoded, pairs sorted by encoded name then value, "name=" for empty
// values. X-Amz-Signature is left out when skipSignature (presigned URLs).
func canonicalQuery(params []queryParam, skipSignature bool) string {
	if len(params) == 0 {
		return ""
	}
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if skipSignature && p.key == "X-Amz-Signature" {
			continue
		}
		enc = append(enc, queryParam{encoded(p.key, false), encoded(p.value, false)})
	}
	slices.SortFunc(enc, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// headerValues returns the values of the (lowercase) header name as the
// client sent them. Go's server moves Host and Transfer-Encoding out of
// r.Header and may drop Content-Length; they are recovered from r.
func headerValues(r *http.Request, name string) []string {
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	vs := r.Header[textproto.CanonicalMIMEHeaderKey(name)]
	if vs == nil {
		vs = r.Header[name] // a non-canonical key set by a handler or test
	}
	if vs == nil && name == "content-length" && r.ContentLength >= 0 {
		vs = []string{strconv.FormatInt(r.ContentLength, 10)}
	}
	return vs
}

// appendHeaderValue appends v trimmed, with runs of spaces collapsed to one.
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, v[i])
	}
	return b
}

// canonicalRequest builds the SigV4 canonical request.
func canonicalRequest(r *http.Request, uri, query string, signed []string, signedStr, payloadHash string) []byte {
	b := make([]byte, 0, 512)
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, uri...)
	b = append(b, '\n')
	b = append(b, query...)
	b = append(b, '\n')
	for _, name := range signed {
		b = append(b, name...)
		b = append(b, ':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendHeaderValue(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, signedStr...)
	b = append(b, '\n')
	b = append(b, payloadHash...)
	return b
}

// parseSignedHeaders splits a SignedHeaders list, lowercasing the names. It
// reports whether the list is well formed (non-empty names, no duplicates).
func parseSignedHeaders(s string) ([]string, bool) {
	if s == "" {
		return nil, false
	}
	names := strings.Split(strings.ToLower(s), ";")
	for i, n := range names {
		if n == "" || strings.ContainsAny(n, " \t:") || slices.Contains(names[:i], n) {
			return nil, false
		}
	}
	return names, true
}

// unsignedAmzHeader returns an x-amz-* header present in r but not signed,
// or "" if there is none. S3 requires all of them to be signed.
func unsignedAmzHeader(r *http.Request, signed []string) string {
	for k := range r.Header {
		if !hasPrefixFold(k, "x-amz-") {
			continue
		}
		if lk := strings.ToLower(k); !slices.Contains(signed, lk) {
			return lk
		}
	}
	return ""
}
