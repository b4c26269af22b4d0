package cert

import "github.com/coffer-secrets/coffer/internal/logical/framework"

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
			if framework.GlobMatch(p, v) {
				return true
			}
		}
	}
	return false
}
