package uuid

import (
	"regexp"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	canonicalV4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[string]bool)
	for range 1000 {
		u := New()
		if !canonicalV4.MatchString(u) {
			t.Fatalf("New() = %q, want a canonical version 4 UUID", u)
		}
		if !Valid(u) {
			t.Fatalf("Valid(New()) = false for %q", u)
		}
		if seen[u] {
			t.Fatalf("New() returned %q twice", u)
		}
		seen[u] = true
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"1b4e28ba-2fa1-41d2-883f-0016d3cca427", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"1B4E28BA-2FA1-41D2-883F-0016D3CCA427", false}, // New never writes upper case
		{"1b4e28ba2fa141d2883f0016d3cca427", false},
		{"1b4e28ba-2fa1-41d2-883f-0016d3cca42", false},
		{"1b4e28ba-2fa1-41d2-883f-0016d3cca4277", false},
		{"1b4e28ba_2fa1-41d2-883f-0016d3cca427", false},
		{"1b4e28ba-2fa1-41d2-883f-0016d3cca42g", false},
		{"../../../../../../../../../../etc/pa", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("1b4e28ba-2fa1-41d2-883f-0016d3cca427")
	f.Add("")
	shape := regexp.MustCompile(`^[0-9a-f-]{36}$`)
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) && !shape.MatchString(s) {
			t.Fatalf("Valid(%q) = true for a string of another shape", s)
		}
	})
}
