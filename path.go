package cairn

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits on names and paths, as POSIX file systems have them.
const (
	MaxNameLen = 255  // bytes in one path component
	MaxPathLen = 4096 // bytes in a whole path
)

// CleanPath validates a namespace path and returns it in canonical form:
// absolute, no trailing slash (except "/"), no empty, "." or ".." components,
// valid UTF-8 (paths travel in protobuf strings) without NUL bytes, each
// name at most MaxNameLen bytes and the whole at most MaxPathLen. Repeated
// slashes are folded. Anything else is an Invalid error that says what is
// wrong.
func CleanPath(p string) (string, error) {
	if p == "" {
		return "", E("path", Invalid, fmt.Errorf("empty path; paths start with /"))
	}
	if len(p) > MaxPathLen {
		return "", E("path", Invalid, fmt.Errorf("path is %d bytes, longer than the %d-byte limit", len(p), MaxPathLen))
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", E("path", Invalid, fmt.Errorf("path %q contains a NUL byte", p))
	}
	if !utf8.ValidString(p) {
		return "", E("path", Invalid, fmt.Errorf("path %q is not valid UTF-8", p))
	}
	if p[0] != '/' {
		return "", E("path", Invalid, fmt.Errorf("path %q is not absolute; paths start with /", p))
	}
	parts := SplitPath(p)
	for _, name := range parts {
		if err := ValidName(name); err != nil {
			return "", E("path", PathArg(p), err)
		}
	}
	return "/" + strings.Join(parts, "/"), nil
}

// SplitPath splits a path into its non-empty components.
func SplitPath(p string) []string {
	fields := strings.Split(p, "/")
	out := fields[:0]
	for _, f := range fields {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ValidName checks one path component.
func ValidName(name string) error {
	switch {
	case name == "":
		return E(Invalid, fmt.Errorf("empty name"))
	case name == "." || name == "..":
		return E(Invalid, fmt.Errorf("name %q is not allowed (no . or .. components)", name))
	case len(name) > MaxNameLen:
		return E(Invalid, fmt.Errorf("name of %d bytes is longer than the %d-byte limit", len(name), MaxNameLen))
	case strings.ContainsAny(name, "/\x00"):
		return E(Invalid, fmt.Errorf("name %q contains / or NUL", name))
	case !utf8.ValidString(name):
		return E(Invalid, fmt.Errorf("name %q is not valid UTF-8", name))
	}
	return nil
}

// ParentPath returns the parent directory and base name of a clean path.
// The root has no parent: ParentPath("/") returns ("/", "").
func ParentPath(p string) (dir, base string) {
	if p == "/" {
		return "/", ""
	}
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}
