package policy

import (
	"encoding/json"
	"strconv"
	"strings"
)

// checkParams applies p's parameter constraints to params and returns why
// they fail, or "" when they pass.
func (p *perm) checkParams(params map[string]any) string {
	for _, r := range p.required {
		if _, ok := params[r]; !ok {
			return "required parameter " + quoteName(r) + " is missing"
		}
	}
	if len(params) == 0 {
		return ""
	}
	if len(p.denied) > 0 {
		if _, all := p.denied["*"]; all {
			return "all parameters are denied on this path"
		}
		for k, v := range params {
			if list, ok := p.denied[strings.ToLower(k)]; ok && deniedValue(v, list) {
				return "parameter " + quoteName(k) + " is denied"
			}
		}
	}
	if len(p.allowed) == 0 {
		return ""
	}
	_, allowAll := p.allowed["*"]
	if allowAll && len(p.allowed) == 1 {
		return ""
	}
	for k, v := range params {
		list, ok := p.allowed[strings.ToLower(k)]
		if !ok && !allowAll {
			return "parameter " + quoteName(k) + " is not allowed"
		}
		if ok && !allowedValue(v, list) {
			return "a value of parameter " + quoteName(k) + " is not allowed"
		}
	}
	return ""
}

// allowedValue reports whether v passes an allowed-values list: an empty
// list allows anything; otherwise v must match an entry, or, when v is a
// list (or a string with commas, which many endpoints read as a list),
// every element must.
func allowedValue(v any, list []any) bool {
	if len(list) == 0 || inList(v, list) {
		return true
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if !inList(e, list) {
				return false
			}
		}
		return true
	case []string:
		for _, e := range x {
			if !inList(e, list) {
				return false
			}
		}
		return true
	case string:
		if !strings.Contains(x, ",") {
			return false
		}
		for e := range strings.SplitSeq(x, ",") {
			if !inList(strings.TrimSpace(e), list) {
				return false
			}
		}
		return true
	}
	return false
}

// deniedValue reports whether v hits a denied-values list: an empty list
// denies anything; otherwise v, or any element of v when it is a list or a
// string with commas, must match an entry.
func deniedValue(v any, list []any) bool {
	if len(list) == 0 || inList(v, list) {
		return true
	}
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if inList(e, list) {
				return true
			}
		}
	case []string:
		for _, e := range x {
			if inList(e, list) {
				return true
			}
		}
	case string:
		if strings.Contains(x, ",") {
			for e := range strings.SplitSeq(x, ",") {
				if inList(strings.TrimSpace(e), list) {
					return true
				}
			}
		}
	}
	return false
}

// inList reports whether v matches an entry of list: a string entry
// matches a string v as a glob (see globMatch); any other entry must equal
// v, numbers comparing by value whatever their Go type.
func inList(v any, list []any) bool {
	vs, vIsString := v.(string)
	for _, el := range list {
		if es, ok := el.(string); ok {
			if vIsString && globMatch(es, vs) {
				return true
			}
			continue
		}
		if equalValues(el, v) {
			return true
		}
	}
	return false
}

// globMatch matches s against a parameter value pattern: "*" alone
// matches anything, a leading "*" matches a suffix, a trailing one a
// prefix, both a substring; otherwise the strings must be equal.
func globMatch(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	pre, suf := strings.HasPrefix(pattern, "*"), strings.HasSuffix(pattern, "*")
	switch {
	case pre && suf:
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case pre:
		return strings.HasSuffix(s, pattern[1:])
	case suf:
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return s == pattern
}

// equalValues compares two decoded values structurally.
func equalValues(a, b any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if fa, ok := toFloat(a); ok {
		fb, ok := toFloat(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case []any:
		return equalLists(x, b)
	case []string:
		xs := make([]any, len(x))
		for i, s := range x {
			xs[i] = s
		}
		return equalLists(xs, b)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalValues(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

func equalLists(x []any, b any) bool {
	switch y := b.(type) {
	case []any:
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case []string:
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// toFloat returns a numeric value as a float64.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	}
	return 0, false
}
