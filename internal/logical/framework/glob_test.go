package framework

import (
	"regexp"
	"strings"
	"testing"
)

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything/at.all", true},
		{"a", "a", true},
		{"a", "A", false},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"*c", "abd", false},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbcd", false},
		{"*.example.com", "web.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "web.example.com.evil", false},
		{"spiffe://cluster/ns/*/sa/*", "spiffe://cluster/ns/prod/sa/web", true},
		{"spiffe://cluster/ns/*/sa/*", "spiffe://cluster/ns/prod/sa/", true},
		{"spiffe://cluster/ns/*/sa/*", "spiffe://cluster/ns/prod/web", false},
		{"spiffe://cluster/ns/*/sa/*", "spiffe://other/ns/prod/sa/web", false},
		{"**a**", "xxaxx", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXcYb", false},
		{"?", "?", true},
		{"?", "a", false},
		{"[a]", "a", false},
	}
	for _, tt := range tests {
		if got := GlobMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("GlobMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// FuzzGlobMatch checks globMatch against a regular expression built from
// the same pattern.
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"*.example.com", "a.example.com"}, {"a*b*c", "abc"}, {"spiffe://c/*/x", "spiffe://c/a/b/x"}, {"**", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 {
			return
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`(?s)\A` + strings.Join(parts, ".*") + `\z`)
		if err != nil {
			return // not valid UTF-8 for regexp; nothing to compare with
		}
		// regexp works on runes and globMatch on bytes; they agree on
		// valid UTF-8, which is what the reference can express.
		if !validUTF8(pattern) || !validUTF8(s) {
			return
		}
		if got, want := GlobMatch(pattern, s), re.MatchString(s); got != want {
			t.Errorf("GlobMatch(%q, %q) = %v, want %v", pattern, s, got, want)
		}
	})
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
