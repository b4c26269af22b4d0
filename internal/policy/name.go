package policy

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultPolicyName is the name of the built-in policy attached to every
// token unless its creator opts out; see [DefaultPolicy].
const DefaultPolicyName = "default"

// RootPolicyName is the name of the built-in policy that allows everything.
// It has no text: it cannot be parsed, stored or edited. A token carrying it
// gets a root ACL from [NewACL].
const RootPolicyName = "root"

// maxNameLen bounds a policy name; names become storage keys and appear in
// token metadata.
const maxNameLen = 128

// NormalizeName returns the canonical form of a policy name: surrounding
// space removed and lowercased, as Vault stores names. Core should store
// and look up policies by the normalized name.
func NormalizeName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// ValidName reports whether name, once normalized with [NormalizeName], is
// acceptable for a stored policy: 1 to 128 characters from a-z, 0-9, "-",
// "_", "." and "/", where "/" separates non-empty segments that are not "."
// or "..". The reserved name "root" is refused.
func ValidName(name string) error {
	n := NormalizeName(name)
	switch {
	case n == "":
		return errors.New("policy name is empty")
	case n == RootPolicyName:
		return errors.New(`policy name "root" is reserved for the built-in root policy, which cannot be written or changed; choose another name`)
	case len(n) > maxNameLen:
		return fmt.Errorf("policy name is %d characters long; the limit is %d", len(n), maxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '/') {
			return fmt.Errorf("policy name %q has the character %q at offset %d; use only a-z, 0-9, '-', '_', '.' and '/'", n, rune(c), i)
		}
	}
	for seg := range strings.SplitSeq(n, "/") {
		switch seg {
		case "":
			return fmt.Errorf("policy name %q has an empty segment; it must not start or end with '/' nor contain '//'", n)
		case ".", "..":
			return fmt.Errorf("policy name %q has a %q segment, which is not allowed", n, seg)
		}
	}
	return nil
}
