package search

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Limits on a search's filter, so that parsing and matching stay cheap.
const (
	// MaxGlobBytes is the longest path glob accepted.
	MaxGlobBytes = 512
	// MaxGlobWildcards is the most wildcards ("*", "**", "?") a glob may
	// hold, which bounds the cost of matching one path.
	MaxGlobWildcards = 32
	// MaxMetaFilters is the most custom_metadata filters one search takes.
	MaxMetaFilters = 16
	// maxValueBytes bounds every other parameter (a mount, a time, an ID).
	maxValueBytes = 1024
)

// Page sizes of a search.
const (
	// DefaultLimit is how many secrets a search answers when the request
	// sets no limit.
	DefaultLimit = 100
	// MaxLimit is the most secrets one search answers.
	MaxLimit = 1000
)

// Filter is what a search looks for. Every condition set must hold.
type Filter struct {
	// Glob matches the secret's full path, mount included
	// ("secret/payments/db"); nil matches every path.
	Glob *Glob
	// Mount restricts the search to one mount ("secret/"); "" is all.
	Mount string
	// Meta are custom_metadata conditions: the key has the value, or
	// (Any) the key is present.
	Meta []MetaCond
	// UpdatedBefore and UpdatedAfter bound the last update (zero: none).
	UpdatedBefore, UpdatedAfter time.Time
	// NotReadSince keeps secrets not read since then, or never read
	// (zero: no condition).
	NotReadSince time.Time
	// CreatedBy matches the accessor or entity ID of the token that
	// wrote the current version.
	CreatedBy string
	// After is the full path after which the page starts ("" for the
	// first page); Limit is the page's size.
	After string
	Limit int
}

// MetaCond is one custom_metadata condition.
type MetaCond struct {
	Key, Value string
	Any        bool // only the key's presence counts
}

// ParseFilter reads a search's query parameters: glob, mount, meta
// (repeated, "key=value" or "key"), updated_before, updated_after,
// not_read_since (RFC 3339 times), created_by, after and limit. Errors
// say which parameter is wrong and how.
func ParseFilter(q url.Values) (*Filter, error) {
	f := &Filter{Limit: DefaultLimit}
	for name, vs := range q {
		if name != "meta" && len(vs) > 1 {
			return nil, logical.InvalidRequest("query parameter %q is given %d times; give it once", name, len(vs))
		}
		for _, v := range vs {
			if strings.ContainsRune(v, 0) {
				return nil, logical.InvalidRequest("query parameter %q must not contain a NUL byte", name)
			}
			if name != "glob" && len(v) > maxValueBytes {
				return nil, logical.InvalidRequest("query parameter %q is %d bytes; the limit is %d", name, len(v), maxValueBytes)
			}
		}
	}
	var err error
	if g := q.Get("glob"); g != "" {
		if f.Glob, err = CompileGlob(g); err != nil {
			return nil, err
		}
	}
	if m := strings.Trim(q.Get("mount"), "/"); m != "" {
		f.Mount = m + "/"
	}
	if len(q["meta"]) > MaxMetaFilters {
		return nil, logical.InvalidRequest("%d meta filters; the limit is %d", len(q["meta"]), MaxMetaFilters)
	}
	for _, m := range q["meta"] {
		k, v, ok := strings.Cut(m, "=")
		if k == "" {
			return nil, logical.InvalidRequest("invalid meta filter: want key=value or key, with a non-empty key")
		}
		f.Meta = append(f.Meta, MetaCond{Key: k, Value: v, Any: !ok})
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"updated_before", &f.UpdatedBefore}, {"updated_after", &f.UpdatedAfter}, {"not_read_since", &f.NotReadSince}} {
		s := strings.TrimSpace(q.Get(t.name))
		if s == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return nil, logical.InvalidRequest("invalid value for query parameter %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", t.name)
		}
	}
	f.CreatedBy = q.Get("created_by")
	f.After = q.Get("after")
	if s := strings.TrimSpace(q.Get("limit")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil, logical.InvalidRequest("invalid value for query parameter \"limit\": want a non-negative integer")
		}
		if n > MaxLimit {
			return nil, logical.InvalidRequest("limit is %d; the most one search answers is %d (continue with after=<last path>)", n, MaxLimit)
		}
		if n > 0 {
			f.Limit = n
		}
	}
	return f, nil
}

// UsesMetadata reports whether f has a condition on a secret's metadata
// (custom_metadata, update and last-read times, creator), which applies
// only to secrets whose metadata the caller may read. Glob and Mount
// look at the path only.
func (f *Filter) UsesMetadata() bool {
	return len(f.Meta) > 0 || !f.UpdatedBefore.IsZero() || !f.UpdatedAfter.IsZero() ||
		!f.NotReadSince.IsZero() || f.CreatedBy != ""
}

// Match reports whether the secret s of the mount at mount meets every
// condition of f but the page (After, Limit).
func (f *Filter) Match(mount string, s *logical.SecretInfo) bool {
	if f.Mount != "" && mount != f.Mount {
		return false
	}
	if f.Glob != nil && !f.Glob.Match(mount+s.Path) {
		return false
	}
	for _, c := range f.Meta {
		v, ok := s.CustomMetadata[c.Key]
		if !ok || (!c.Any && v != c.Value) {
			return false
		}
	}
	if !f.UpdatedBefore.IsZero() && !s.UpdatedTime.Before(f.UpdatedBefore) {
		return false
	}
	if !f.UpdatedAfter.IsZero() && !s.UpdatedTime.After(f.UpdatedAfter) {
		return false
	}
	if !f.NotReadSince.IsZero() && !s.LastRead.IsZero() && !s.LastRead.Before(f.NotReadSince) {
		return false
	}
	if f.CreatedBy != "" && f.CreatedBy != s.CreatedByAccessor && f.CreatedBy != s.CreatedByEntity {
		return false
	}
	return true
}

// Glob is a compiled path glob: "*" matches any run of characters
// within one path segment, "**" any run including "/", "?" one character
// other than "/"; every other character, "\" too, stands for itself.
type Glob struct {
	re     *regexp.Regexp
	prefix string
}

// CompileGlob compiles a path glob of at most MaxGlobBytes bytes.
func CompileGlob(g string) (*Glob, error) {
	if len(g) > MaxGlobBytes {
		return nil, logical.InvalidRequest("glob is %d bytes; the limit is %d", len(g), MaxGlobBytes)
	}
	var b strings.Builder
	b.WriteString(`(?s)^`)
	prefix, wildcards := len(g), 0
	for i := 0; i < len(g); i++ {
		if c := g[i]; c == '*' || c == '?' {
			if wildcards++; wildcards > MaxGlobWildcards {
				return nil, logical.InvalidRequest("glob has more than %d wildcards", MaxGlobWildcards)
			}
		}
		switch c := g[i]; c {
		case '*':
			prefix = min(prefix, i)
			if i+1 < len(g) && g[i+1] == '*' {
				b.WriteString(`.*`)
				i++
				for i+1 < len(g) && g[i+1] == '*' {
					i++ // "***" is "**"
				}
			} else {
				b.WriteString(`[^/]*`)
			}
		case '?':
			prefix = min(prefix, i)
			b.WriteString(`[^/]`)
		default:
			j := i
			for j < len(g) && g[j] != '*' && g[j] != '?' {
				j++
			}
			b.WriteString(regexp.QuoteMeta(g[i:j]))
			i = j - 1
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid glob", Err: err}
	}
	return &Glob{re: re, prefix: g[:prefix]}, nil
}

// Match reports whether path matches the glob.
func (g *Glob) Match(path string) bool { return g.re.MatchString(path) }

// Prefix is the literal text every matching path starts with.
func (g *Glob) Prefix() string { return g.prefix }
