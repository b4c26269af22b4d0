package cert

import "strings"

// globMatch reports whether s matches pattern, in which "*" matches any
// run of characters (none included, "/" and "." included) and every other
// byte matches itself. It runs in O(len(pattern)*len(s)) time at worst.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // position after the last "*" seen, and where s was then
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			p++
			star, mark = p, i
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			// Let the last "*" swallow one more byte and retry.
			mark++
			p, i = star, mark
		default:
			return false
		}
	}
	return strings.Trim(pattern[p:], "*") == ""
}

// anyMatch reports whether some value matches some pattern. With fold,
// both are compared in ASCII lower case (for DNS names).
func anyMatch(patterns, values []string, fold bool) bool {
	for _, v := range values {
		if fold {
			v = toLowerASCII(v)
		}
		for _, p := range patterns {
			if fold {
				p = toLowerASCII(p)
			}
			if globMatch(p, v) {
				return true
			}
		}
	}
	return false
}
