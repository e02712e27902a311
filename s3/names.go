package s3

import (
	"net"
	"strings"
	"unicode/utf8"

	"github.com/cairnfs/cairn"
)

// How S3 names map onto Cairn's namespace:
//
//   - bucket b is the top-level directory /b;
//   - key k is the file /b/k: its slashes are directory levels;
//   - key "a/b" while "a/b/..." keys exist (so /b/a/b is a directory) is
//     the file /b/a/b/.cairn.obj. A PUT of "a/b/c" while "a/b" is a file
//     first turns /b/a/b into a directory holding the old file under that
//     name, in one metadata step (WrapInDir), so both keys coexist;
//   - a "directory marker" key "a/b/" is the file /b/a/b/.cairn.dir;
//   - directories left empty by deletes are removed, so prefixes vanish
//     from listings as in S3.
//
// Keys that the namespace cannot hold are refused with InvalidArgument: an
// empty segment ("a//b", a leading "/"), "." or ".." segments, a segment
// longer than 255 bytes, NUL, invalid UTF-8, or a segment named like the
// two reserved entries above.
const (
	objEntry    = ".cairn.obj"
	markerEntry = ".cairn.dir"
	maxKeyLen   = 1024
)

// validBucket applies S3's bucket naming rules.
func validBucket(b string) *apiError {
	bad := func(why string) *apiError { return errorf("InvalidBucketName", "bucket name %q %s", b, why) }
	if len(b) < 3 || len(b) > 63 {
		return bad("must be 3 to 63 characters long")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !isAlnum(c) && c != '.' && c != '-' {
			return bad("may contain only lowercase letters, digits, dots and hyphens")
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return bad("must begin and end with a letter or digit")
	}
	if strings.Contains(b, "..") || strings.Contains(b, ".-") || strings.Contains(b, "-.") {
		return bad("must not contain two adjacent periods or a period next to a hyphen")
	}
	if net.ParseIP(b) != nil {
		return bad("must not be formatted as an IP address")
	}
	if strings.HasPrefix(b, "xn--") || strings.HasPrefix(b, "sthree-") || strings.HasSuffix(b, "-s3alias") || strings.HasSuffix(b, "--ol-s3") {
		return bad("uses a reserved prefix or suffix")
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validKey checks that key can be stored (see the mapping above).
func validKey(key string) *apiError {
	if key == "" {
		return errorf("InvalidArgument", "the object key is empty")
	}
	if len(key) > maxKeyLen {
		return errorf("KeyTooLongError", "the key is %d bytes; the limit is %d", len(key), maxKeyLen)
	}
	if !utf8.ValidString(key) || strings.IndexByte(key, 0) >= 0 {
		return errorf("InvalidArgument", "the key must be valid UTF-8 without NUL characters")
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		switch {
		case s == "":
			return errorf("InvalidArgument", "key %q has an empty path segment (a leading slash or two slashes in a row); Cairn stores keys as paths and cannot hold it", key)
		case s == "." || s == "..":
			return errorf("InvalidArgument", "key %q has a %q segment, which Cairn refuses in paths", key, s)
		case s == objEntry || s == markerEntry:
			return errorf("InvalidArgument", "key %q uses the reserved name %q", key, s)
		case len(s) > cairn.MaxNameLen:
			return errorf("KeyTooLongError", "a segment of key %q is %d bytes; each segment between slashes may have at most %d", key, len(s), cairn.MaxNameLen)
		}
	}
	return nil
}

// objectPath is where key's content lives in bucket when no directory is
// in the way; a marker key ("a/b/") lives in its directory.
func objectPath(bucket, key string) string {
	if strings.HasSuffix(key, "/") {
		return "/" + bucket + "/" + key + markerEntry
	}
	return "/" + bucket + "/" + key
}

// nestedPath is where key lives when its path is a directory.
func nestedPath(bucket, key string) string { return "/" + bucket + "/" + key + "/" + objEntry }
