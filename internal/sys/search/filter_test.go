package search

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
		prefix     string
	}{
		{"secret/*/db", "secret/a/db", true, "secret/"},
		{"secret/*/db", "secret/a/b/db", false, "secret/"},
		{"secret/**/db", "secret/a/b/db", true, "secret/"},
		{"secret/**", "secret/a", true, "secret/"},
		{"secret/a?", "secret/ab", true, "secret/a"},
		{"secret/a?", "secret/a/", false, "secret/a"},
		{"secret/a.b", "secret/aXb", false, "secret/a.b"},
		{"secret/(x)[y]+", "secret/(x)[y]+", true, "secret/(x)[y]+"},
		{"***", "a/b", true, ""},
		{"a*", "a\nb", true, "a"},
		{"**", "a\n/b", true, ""},
	}
	for _, tc := range tests {
		g, err := CompileGlob(tc.glob)
		if err != nil {
			t.Fatalf("%q: %v", tc.glob, err)
		}
		if got := g.Match(tc.path); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.glob, tc.path, got, tc.want)
		}
		if g.Prefix() != tc.prefix {
			t.Errorf("%q prefix = %q, want %q", tc.glob, g.Prefix(), tc.prefix)
		}
	}
}

func TestFilterMatch(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := logical.SecretInfo{Path: "app/db", UpdatedTime: t0, LastRead: t0.Add(time.Hour), CreatedByAccessor: "acc", CreatedByEntity: "ent",
		CustomMetadata: map[string]string{"owner": "ops"}}
	tests := []struct {
		query string
		want  bool
	}{
		{"", true},
		{"glob=secret/app/*", true},
		{"glob=other/**", false},
		{"mount=secret", true},
		{"mount=secret/", true},
		{"mount=kv", false},
		{"meta=owner=ops", true},
		{"meta=owner=dev", false},
		{"meta=owner", true},
		{"meta=team", false},
		{"meta=owner=", false},
		{"updated_before=2026-01-01T00:00:01Z", true},
		{"updated_before=2026-01-01T00:00:00Z", false},
		{"updated_after=2025-12-31T00:00:00Z", true},
		{"updated_after=2026-01-01T00:00:00Z", false},
		{"not_read_since=2026-01-01T02:00:00Z", true},
		{"not_read_since=2026-01-01T01:00:00Z", false},
		{"created_by=acc", true},
		{"created_by=ent", true},
		{"created_by=other", false},
	}
	for _, tc := range tests {
		q, _ := url.ParseQuery(tc.query)
		f, err := ParseFilter(q)
		if err != nil {
			t.Fatalf("%q: %v", tc.query, err)
		}
		if got := f.Match("secret/", &s); got != tc.want {
			t.Errorf("%q: match = %v, want %v", tc.query, got, tc.want)
		}
	}
	never := s
	never.LastRead = time.Time{}
	f, _ := ParseFilter(url.Values{"not_read_since": {"2026-01-01T00:00:00Z"}})
	if !f.Match("secret/", &never) {
		t.Error("a secret never read is not read since any time")
	}
}

func TestParseFilterErrors(t *testing.T) {
	for _, q := range []string{
		"limit=-1", "limit=x", "limit=1001", "updated_before=2026", "not_read_since=1d",
		"meta==v", "meta=", "glob=" + strings.Repeat("a", MaxGlobBytes+1), "glob=" + strings.Repeat("a*", MaxGlobWildcards+1), "mount=a&mount=b",
		"created_by=" + strings.Repeat("a", 2000), "after=a%00", strings.Repeat("meta=k&", MaxMetaFilters+1),
	} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseFilter(v); err == nil {
			t.Errorf("%.60q: no error", q)
		}
	}
}

// FuzzParseFilter checks that any query parses or fails cleanly, and that
// a glob agrees with a simple backtracking matcher and its prefix.
func FuzzParseFilter(f *testing.F) {
	f.Add("glob=secret/*/db&meta=a=b&limit=3", "secret/x/db")
	f.Add("glob=**/?x&updated_before=2026-01-01T00:00:00Z", "a/b/cx")
	f.Add("glob=a***b", "a/b")
	f.Add("glob=%C3%A9?", "\xc3\xa9\xc3\xa9")
	f.Fuzz(func(t *testing.T, query, path string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		flt, err := ParseFilter(q)
		if err != nil {
			if !strings.Contains(err.Error(), " ") {
				t.Fatalf("unhelpful error %q", err)
			}
			return
		}
		if flt.Limit < 1 || flt.Limit > MaxLimit {
			t.Fatalf("limit %d", flt.Limit)
		}
		if flt.Glob == nil {
			return
		}
		g := q.Get("glob")
		got := flt.Glob.Match(path)
		if want := refMatch(g, path); got != want {
			t.Fatalf("glob %q on %q = %v, reference %v", g, path, got, want)
		}
		if got && !strings.HasPrefix(path, flt.Glob.Prefix()) {
			t.Fatalf("glob %q matches %q outside its prefix %q", g, path, flt.Glob.Prefix())
		}
	})
}

// refMatch is the glob semantics written out as memoized backtracking
// over characters (runes; an invalid byte is one character, as in
// regexp).
func refMatch(gs, ps string) bool {
	g, p := []rune(gs), []rune(ps)
	memo := map[[2]int]bool{}
	seen := map[[2]int]bool{}
	var m func(i, j int) bool
	m = func(i, j int) bool {
		k := [2]int{i, j}
		if seen[k] {
			return memo[k]
		}
		seen[k] = true
		var r bool
		switch {
		case i == len(g):
			r = j == len(p)
		case g[i] == '*':
			n := i
			for n < len(g) && g[n] == '*' {
				n++
			}
			any := n-i >= 2
			for e := j; ; e++ {
				if m(n, e) {
					r = true
					break
				}
				if e == len(p) || (!any && p[e] == '/') {
					break
				}
			}
		case g[i] == '?':
			r = j < len(p) && p[j] != '/' && m(i+1, j+1)
		default:
			r = j < len(p) && p[j] == g[i] && m(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return m(0, 0)
}
