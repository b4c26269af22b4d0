package suggest

import (
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"listener", "listener", 0},
		{"listner", "listener", 1},
		{"lisetner", "listener", 2},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
		{strings.Repeat("a", 65), "a", 65},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	words := []string{"listener", "storage", "api_addr", "cluster_addr"}
	tests := []struct {
		word, want string
	}{
		{"listner", "listener"},
		{"STORAGE", "storage"},
		{"api_adr", "api_addr"},
		{"cluster_adr", "cluster_addr"},
		{"telemetry", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.word, words); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

// FuzzDistance checks the metric's laws on any input: symmetry, zero only
// for equal words, and the bounds by length.
func FuzzDistance(f *testing.F) {
	f.Add("listner", "listener")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := Distance(a, b)
		if d != Distance(b, a) {
			t.Fatalf("Distance(%q, %q) is not symmetric", a, b)
		}
		if (d == 0) != (a == b) && len(a) <= maxLen && len(b) <= maxLen {
			t.Fatalf("Distance(%q, %q) = %d", a, b, d)
		}
		if d > max(len(a), len(b)) || d < max(len(a), len(b))-min(len(a), len(b)) {
			t.Fatalf("Distance(%q, %q) = %d is out of bounds", a, b, d)
		}
	})
}
