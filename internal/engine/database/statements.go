package database

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
)

// Statement placeholders. Statements may use only these; any other
// {{...}} is refused when the role is written.
const (
	phName       = "name"
	phPassword   = "password"
	phExpiration = "expiration"
)

// knownPlaceholders are the placeholders a statement may contain.
var knownPlaceholders = []string{phName, phPassword, phExpiration}

// maxStatementBytes bounds one role's statements, all lists together.
const maxStatementBytes = 64 << 10

// Statements is a list of SQL statements given as a JSON array of strings
// or as one string. Each item may hold several statements separated by
// semicolons; [splitStatements] separates them when they run. Unlike
// framework.CommaStrings a string is never split on commas, which SQL
// needs.
type Statements []string

// UnmarshalJSON implements [json.Unmarshaler]. null leaves s unchanged.
func (s *Statements) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[Statements]()}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '[':
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return bad
		}
		out := make([]string, 0, len(list))
		for _, item := range list {
			if strings.TrimSpace(item) != "" {
				out = append(out, item)
			}
		}
		*s = out
	case len(b) > 0 && b[0] == '"':
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return bad
		}
		if strings.TrimSpace(one) == "" {
			*s = Statements{}
		} else {
			*s = Statements{one}
		}
	default:
		return bad
	}
	return nil
}

// placeholderError is a statement template problem; its message names the
// offending placeholder but never a substituted value.
type placeholderError struct{ msg string }

func (e *placeholderError) Error() string { return e.msg }

// checkStatements reports the first statement that uses an unknown
// placeholder or has an unterminated "{{". The error names every unknown
// placeholder.
func checkStatements(stmts []string) error {
	var unknown []string
	for _, s := range stmts {
		names, err := placeholders(s)
		if err != nil {
			return err
		}
		for _, n := range names {
			if !slices.Contains(knownPlaceholders, n) && !slices.Contains(unknown, n) {
				unknown = append(unknown, n)
			}
		}
	}
	if len(unknown) > 0 {
		quoted := make([]string, len(unknown))
		for i, n := range unknown {
			quoted[i] = "{{" + n + "}}"
		}
		return &placeholderError{msg: "unknown placeholder " + strings.Join(quoted, ", ") +
			"; statements may use {{name}}, {{password}} and {{expiration}}"}
	}
	return nil
}

// placeholders returns the names of the {{...}} placeholders in s, in
// order, trimmed of spaces.
func placeholders(s string) ([]string, error) {
	var names []string
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			return names, nil
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			return nil, &placeholderError{msg: "unterminated placeholder: \"{{\" without \"}}\""}
		}
		names = append(names, strings.TrimSpace(s[i+2:i+2+j]))
		s = s[i+2+j+2:]
	}
}

// render substitutes vars into stmt. Every placeholder must be a key of
// vars; an unknown one is an error naming it. Values are inserted as they
// are: callers make sure they are safe in SQL (see [sqlSafe]).
func render(stmt string, vars map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(stmt, "{{")
		if i < 0 {
			b.WriteString(stmt)
			return b.String(), nil
		}
		j := strings.Index(stmt[i+2:], "}}")
		if j < 0 {
			return "", &placeholderError{msg: "unterminated placeholder: \"{{\" without \"}}\""}
		}
		name := strings.TrimSpace(stmt[i+2 : i+2+j])
		v, ok := vars[name]
		if !ok {
			return "", &placeholderError{msg: "unknown placeholder {{" + name + "}}"}
		}
		b.WriteString(stmt[:i])
		b.WriteString(v)
		stmt = stmt[i+2+j+2:]
	}
}

// renderAll splits every item of stmts into single statements and renders
// each with vars. Empty statements are dropped.
func renderAll(stmts []string, vars map[string]string) ([]string, error) {
	var out []string
	for _, item := range stmts {
		for _, s := range splitStatements(item) {
			r, err := render(s, vars)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// splitStatements splits s on semicolons that are outside quotes: single
// and double quotes, backticks, and PostgreSQL dollar quotes ($$ or
// $tag$), so that a DO block or a function body stays whole. Pieces are
// trimmed and empty ones dropped.
func splitStatements(s string) []string {
	var out []string
	start := 0
	add := func(end int) {
		if p := strings.TrimSpace(s[start:end]); p != "" {
			out = append(out, p)
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case ';':
			add(i)
			i++
			start = i
		case '\'', '"', '`':
			i = skipQuoted(s, i, c)
		case '$':
			if tag, ok := dollarTag(s[i:]); ok {
				end := strings.Index(s[i+len(tag):], tag)
				if end < 0 {
					i = len(s)
				} else {
					i += len(tag) + end + len(tag)
				}
			} else {
				i++
			}
		case '-':
			if strings.HasPrefix(s[i:], "--") {
				if nl := strings.IndexByte(s[i:], '\n'); nl >= 0 {
					i += nl + 1
				} else {
					i = len(s)
				}
			} else {
				i++
			}
		default:
			i++
		}
	}
	add(len(s))
	return out
}

// skipQuoted returns the index after the quoted run that starts at s[i]
// with quote q. A doubled quote is an escaped quote; a backslash escapes
// the next byte (MySQL's default), which is harmless for PostgreSQL since
// we only look for the end.
func skipQuoted(s string, i int, q byte) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			if q != '"' {
				j++
			}
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return len(s)
}

// dollarTag reports whether s starts with a PostgreSQL dollar-quote tag
// ($$ or $name$) and returns it.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		if c == '$' {
			return s[:j+1], true
		}
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 1 && c >= '0' && c <= '9') {
			return "", false
		}
	}
	return "", false
}

// sqlUnsafe are characters that could end a quoted SQL literal or
// identifier. Generated names and passwords never contain them, so that a
// statement template's quoting always holds.
const sqlUnsafe = "'\"`\\\x00"

// sqlSafe reports whether v may be substituted into a statement.
func sqlSafe(v string) bool {
	return !strings.ContainsAny(v, sqlUnsafe)
}

// statementsSize is the total length of all lists.
func statementsSize(lists ...[]string) int {
	n := 0
	for _, l := range lists {
		for _, s := range l {
			n += len(s)
		}
	}
	return n
}
