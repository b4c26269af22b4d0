package router

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestCleanPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"secret/data/app", false},
		{"secret/metadata/", false},
		{"sys/mounts", false},
		{"a", false},
		{"", true},
		{"/secret", true},
		{"secret//data", true},
		{"secret/../sys", true},
		{"secret/./x", true},
		{"..", true},
		{"secret/..", true},
		{"secret/x\x00y", true},
		{strings.Repeat("a/", 3000), true},
		{"secret/...", false},
		{"secret/.hidden", false},
		{"secret/data/app/%2e%2e/other", true},
		{"secret/data/app/%2E%2e", true},
		{"secret/%2e/x", true},
		{"secret/.%2e/x", true},
		{"secret/%252e%252e/x", true},
		{"secret/100%25", false},
		{"secret/%zz", false},
		{"secret/a\xffb", true},
		{"secret/clé", false},
		{"secret/%2e%2e%2e", false},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("CleanPath(%q) = %q, %v; want error %v", tt.in, got, err, tt.wantErr)
			continue
		}
		if err != nil && !errors.Is(err, logical.ErrInvalidRequest) {
			t.Errorf("CleanPath(%q) error %v is not an invalid request", tt.in, err)
		}
		if err == nil && got != tt.in {
			t.Errorf("CleanPath(%q) = %q; a clean path must come back unchanged", tt.in, got)
		}
	}
}

// FuzzCleanPath checks that an accepted path can never climb out of the
// mount it names: no empty, "." or ".." segment survives, and the path
// comes back unchanged.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"secret/data/a", "secret/../sys", "a//b", "a/./b", "x/", "", "/", "..", "a/%2e%2e/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := CleanPath(p)
		if err != nil {
			if got != "" {
				t.Fatalf("CleanPath(%q) returned %q with an error", p, got)
			}
			return
		}
		if got != p {
			t.Fatalf("CleanPath(%q) = %q, want it unchanged", p, got)
		}
		for seg := range strings.SplitSeq(strings.TrimSuffix(got, "/"), "/") {
			if seg == "" || isDotSegment(seg) {
				t.Fatalf("CleanPath(%q) accepted segment %q", p, seg)
			}
		}
		if !utf8.ValidString(got) {
			t.Fatalf("CleanPath(%q) accepted invalid UTF-8", p)
		}
		if strings.ContainsRune(got, 0) {
			t.Fatalf("CleanPath(%q) accepted a NUL byte", p)
		}
	})
}

func TestCleanMountPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "secret", want: "secret/"},
		{in: "/secret/", want: "secret/"},
		{in: "team/kv", want: "team/kv/"},
		{in: "", wantErr: true},
		{in: "/", wantErr: true},
		{in: "a//b", wantErr: true},
		{in: "a/../b", wantErr: true},
		{in: "./a", wantErr: true},
		{in: "a*", wantErr: true},
		{in: "a%2e", wantErr: true},
		{in: "a\x00b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := CleanMountPath(tt.in)
			if tt.wantErr {
				if !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("CleanMountPath(%q) = %q, %v, want an invalid-request error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("CleanMountPath(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
