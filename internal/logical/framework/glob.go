package framework

import "strings"

// GlobMatch reports whether s matches pattern, in which "*" matches any
// run of characters (none included, "/" and "." included) and every other
// byte matches itself. It runs in O(len(pattern)*len(s)) time at worst.
func GlobMatch(pattern, s string) bool {
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
