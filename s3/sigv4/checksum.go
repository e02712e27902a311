package sigv4

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"net/http"
	"strings"

	"github.com/minio/crc64nvme"
)

// checksumAlg is an S3 additional-checksum algorithm.
type checksumAlg struct {
	name   string // as S3 names it in messages: CRC32, CRC32C, ...
	header string // x-amz-checksum-crc32, ...
	size   int    // digest length in bytes
	new    func() hash.Hash
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var checksumAlgs = [...]checksumAlg{
	{"CRC32", "x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"CRC32C", "x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(castagnoli) }},
	{"CRC64NVME", "x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64nvme.New() }},
	{"SHA1", "x-amz-checksum-sha1", sha1.Size, sha1.New},
	{"SHA256", "x-amz-checksum-sha256", sha256.Size, sha256.New},
}

// checksumAlgFor returns the algorithm for a lowercase header name, or nil.
func checksumAlgFor(header string) *checksumAlg {
	for i := range checksumAlgs {
		if checksumAlgs[i].header == header {
			return &checksumAlgs[i]
		}
	}
	return nil
}

// checksum verifies one additional checksum over the decoded payload.
type checksum struct {
	alg     *checksumAlg
	h       hash.Hash
	want    []byte // nil until known (trailers arrive after the payload)
	trailer bool
}

func newChecksum(alg *checksumAlg) *checksum {
	return &checksum{alg: alg, h: alg.new()}
}

// setWant decodes the base64 value the client sent.
func (c *checksum) setWant(value string) error {
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
	if err != nil || len(want) != c.alg.size {
		return errorf(codeInvalidRequest, "Value for %s is invalid: %q is not the base64 of a %d-byte %s.",
			c.alg.header, value, c.alg.size, c.alg.name)
	}
	c.want = want
	return nil
}

// verify compares the computed digest with the one the client sent.
func (c *checksum) verify() error {
	if c.want == nil {
		return errIncomplete("The trailer %s announced in X-Amz-Trailer was not sent.", c.alg.header)
	}
	got := c.h.Sum(nil)
	if !bytes.Equal(got, c.want) {
		return errorf(codeBadDigest, "The %s you specified did not match the calculated checksum "+
			"(%s: sent %s, computed %s); the payload was corrupted in transit or the checksum was computed "+
			"over different data.", c.alg.name, c.alg.header,
			base64.StdEncoding.EncodeToString(c.want), base64.StdEncoding.EncodeToString(got))
	}
	return nil
}

// isCompleteMultipartUpload reports whether r is CompleteMultipartUpload,
// whose x-amz-checksum-* headers describe the object, not the request body.
func isCompleteMultipartUpload(r *http.Request) bool {
	return r.Method == http.MethodPost && len(queryValues(parseQuery(r.URL.RawQuery), "uploadId")) > 0
}

// headerChecksum returns the checksum to verify from an x-amz-checksum-<alg>
// request header (or, for a presigned URL, a query parameter hoisted from
// such a header), or nil if there is none.
func headerChecksum(r *http.Request, presigned bool) (*checksum, error) {
	if isCompleteMultipartUpload(r) {
		return nil, nil
	}
	var found *checksum
	add := func(name string, values []string) error {
		if !hasPrefixFold(name, "x-amz-checksum-") {
			return nil
		}
		alg := checksumAlgFor(strings.ToLower(name))
		if alg == nil {
			return nil // not a checksum value (e.g. x-amz-checksum-type) or an algorithm we do not know
		}
		if found != nil || len(values) != 1 {
			return errorf(codeInvalidRequest, "Expecting a single x-amz-checksum- header. "+
				"Multiple checksum Types are not allowed.")
		}
		found = newChecksum(alg)
		return found.setWant(values[0])
	}
	for k, vs := range r.Header {
		if err := add(k, vs); err != nil {
			return nil, err
		}
	}
	if presigned {
		for _, p := range parseQuery(r.URL.RawQuery) {
			if err := add(p.key, []string{p.value}); err != nil {
				return nil, err
			}
		}
	}
	return found, nil
}

// trailerChecksum returns the checksum announced in X-Amz-Trailer, or nil.
func trailerChecksum(r *http.Request) (*checksum, error) {
	var found *checksum
	for _, v := range r.Header.Values("X-Amz-Trailer") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			alg := checksumAlgFor(name)
			if alg == nil {
				return nil, errorf(codeInvalidRequest, "The trailer %q in X-Amz-Trailer is not supported; "+
					"use one of x-amz-checksum-crc32, -crc32c, -crc64nvme, -sha1, -sha256.", name)
			}
			if found != nil {
				return nil, errorf(codeInvalidRequest, "Expecting a single x-amz-checksum- trailer in "+
					"X-Amz-Trailer. Multiple checksum Types are not allowed.")
			}
			found = newChecksum(alg)
			found.trailer = true
		}
	}
	return found, nil
}
