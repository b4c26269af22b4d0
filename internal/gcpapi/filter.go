package gcpapi

import (
	"strings"
	"time"
)

// maxFilterLen bounds a filter expression.
const maxFilterLen = 1024

// A filter is a parsed filter expression of ListSecrets or
// ListSecretVersions: terms that must all hold. Coffer serves a subset
// of Google's filter language (docs/gcp-secret-manager.md):
//
//	name:TEXT             the secret ID contains TEXT
//	labels.KEY=VALUE      the label KEY is VALUE
//	labels.KEY:VALUE      the label KEY contains VALUE (":*": has the label)
//	state:STATE           (versions) ENABLED, DISABLED or DESTROYED
//	create_time<TIME      also <=, >, >=, =; TIME in RFC 3339
//
// Terms are separated by spaces, optionally by AND; a value may be
// double-quoted. OR, NOT, "-" and parentheses are refused.
type filter []term

// term is one condition.
type term struct {
	field string // "name", "labels.KEY", "state" or "create_time"
	op    string // ":", "=", "<", "<=", ">", ">="
	value string
	at    time.Time // the value of a create_time term
}

// parseFilter parses s; versions selects the version fields (state)
// instead of the secret ones (name, labels).
func parseFilter(s string, versions bool) (filter, error) {
	if len(s) > maxFilterLen {
		return nil, invalidArg("filter is longer than %d characters", maxFilterLen)
	}
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	var f filter
	for _, w := range words {
		switch w {
		case "AND":
			continue
		case "OR", "NOT":
			return nil, invalidArg("filter: %s is not supported by Coffer; terms separated by spaces must all hold", w)
		}
		t, err := parseTerm(w, versions)
		if err != nil {
			return nil, err
		}
		f = append(f, t)
	}
	return f, nil
}

// splitWords splits s at spaces outside double quotes, removing the
// quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inQuote, has := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			has = true
		case c == '\\' && inQuote && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case (c == ' ' || c == '\t' || c == '\n') && !inQuote:
			if has {
				words = append(words, cur.String())
				cur.Reset()
				has = false
			}
		case (c == '(' || c == ')') && !inQuote:
			return nil, invalidArg("filter: parentheses are not supported by Coffer")
		default:
			cur.WriteByte(c)
			has = true
		}
	}
	if inQuote {
		return nil, invalidArg("filter: unterminated quote")
	}
	if has {
		words = append(words, cur.String())
	}
	return words, nil
}

// parseTerm parses one FIELD OP VALUE term.
func parseTerm(w string, versions bool) (term, error) {
	i := strings.IndexAny(w, ":=<>")
	if i <= 0 {
		return term{}, invalidArg("filter: %q is not FIELD:VALUE, FIELD=VALUE or a create_time comparison", clip(w))
	}
	t := term{field: w[:i]}
	rest := w[i:]
	for _, op := range []string{"<=", ">=", ":", "=", "<", ">"} {
		if v, ok := strings.CutPrefix(rest, op); ok {
			t.op, t.value = op, v
			break
		}
	}
	if strings.HasPrefix(t.field, "-") {
		return term{}, invalidArg("filter: negation is not supported by Coffer")
	}
	switch {
	case t.field == "create_time":
		at, err := time.Parse(time.RFC3339Nano, t.value)
		if err != nil {
			return term{}, invalidArg("filter: create_time takes an RFC 3339 time, such as \"2026-01-02T15:04:05Z\"")
		}
		t.at = at
		if t.op == ":" {
			t.op = "="
		}
	case !versions && t.field == "name" && (t.op == ":" || t.op == "="):
	case !versions && strings.HasPrefix(t.field, "labels.") && len(t.field) > len("labels.") && (t.op == ":" || t.op == "="):
	case versions && t.field == "state" && (t.op == ":" || t.op == "="):
		switch t.value {
		case "ENABLED", "DISABLED", "DESTROYED":
		default:
			return term{}, invalidArg("filter: state is ENABLED, DISABLED or DESTROYED")
		}
	default:
		what := "name:, labels.KEY=, labels.KEY: and create_time comparisons"
		if versions {
			what = "state: and create_time comparisons"
		}
		return term{}, invalidArg("filter: %q is not supported; Coffer filters on %s", clip(w), what)
	}
	return t, nil
}

// item is what a filter looks at.
type item struct {
	name    string // the secret ID
	labels  map[string]string
	state   string
	created time.Time
}

// match reports whether it satisfies every term of f.
func (f filter) match(it item) bool {
	for _, t := range f {
		if !t.match(it) {
			return false
		}
	}
	return true
}

func (t term) match(it item) bool {
	switch {
	case t.field == "name":
		if t.op == "=" {
			return it.name == t.value
		}
		return strings.Contains(it.name, t.value)
	case t.field == "state":
		return it.state == t.value
	case t.field == "create_time":
		switch t.op {
		case "<":
			return it.created.Before(t.at)
		case "<=":
			return !it.created.After(t.at)
		case ">":
			return it.created.After(t.at)
		case ">=":
			return !it.created.Before(t.at)
		default:
			return it.created.Equal(t.at)
		}
	}
	key := strings.TrimPrefix(t.field, "labels.")
	v, ok := it.labels[key]
	if !ok {
		return false
	}
	if t.op == "=" {
		return v == t.value
	}
	return t.value == "*" || strings.Contains(v, t.value)
}
