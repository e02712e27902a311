package policy

import (
	"strings"
	"unicode/utf8"
)

// match reports whether s matches pattern, where * matches any run of
// characters (also none, also /) and ? exactly one character. It runs in
// O(len(pattern)*len(s)) at worst: one backtracking point, the last *.
func match(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // after the last * in pattern; where in s it began to match
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p+1, i
			p++
		case p < len(pattern) && pattern[p] == '?':
			_, n := utf8.DecodeRuneInString(s[i:])
			p, i = p+1, i+n
		case p < len(pattern) && pattern[p] == s[i]:
			p, i = p+1, i+1
		case star >= 0:
			_, n := utf8.DecodeRuneInString(s[mark:])
			mark += n
			p, i = star, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchFold is match ignoring ASCII case (action names).
func matchFold(pattern, s string) bool {
	return match(strings.ToLower(pattern), strings.ToLower(s))
}
