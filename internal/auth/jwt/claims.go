package jwt

import (
	"encoding/json"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// lookupClaim finds a claim in the token's claims c. A name starting with
// "/" is a JSON pointer (RFC 6901) into nested objects when pointer is
// set; otherwise the name is a top-level member.
func lookupClaim(c map[string]any, name string, pointer bool) (any, bool) {
	if !pointer || !strings.HasPrefix(name, "/") {
		v, ok := c[name]
		return v, ok
	}
	var cur any = c
	for _, tok := range strings.Split(name[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalarString returns a string, number or boolean claim value as text:
// numbers as written in the token, booleans as "true" or "false".
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// claimStrings returns a scalar claim as one string, or a list of scalars
// as a list of strings. ok is false for objects, null and lists holding
// anything else.
func claimStrings(v any) (out []string, ok bool) {
	if s, ok := scalarString(v); ok {
		return []string{s}, true
	}
	list, isList := v.([]any)
	if !isList {
		return nil, false
	}
	out = make([]string, 0, len(list))
	for _, item := range list {
		s, ok := scalarString(item)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// anyMatch reports whether one of got matches one of want, exactly or,
// with glob, by [globMatch].
func anyMatch(got, want []string, glob bool) bool {
	for _, w := range want {
		for _, g := range got {
			if w == g || glob && framework.GlobMatch(w, g) {
				return true
			}
		}
	}
	return false
}
