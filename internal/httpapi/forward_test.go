package httpapi

import (
	"strings"
	"testing"
)

func TestClusterURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want string // "" for nil
	}{
		{"", ""},
		{"https://127.0.0.1:8201", "https://127.0.0.1:8201"},
		{"127.0.0.1:8201", "https://127.0.0.1:8201"},
		{"https://node1.internal:8201/ignored?q=1", "https://node1.internal:8201"},
		{"http://node1.internal:8201", "https://node1.internal:8201"},
		{"https://", ""},
		{"https://%zz", ""},
	}
	for _, tt := range tests {
		got := ""
		if u := clusterURL(tt.addr); u != nil {
			got = u.String()
		}
		if got != tt.want {
			t.Errorf("clusterURL(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

// FuzzClusterURL feeds announced cluster addresses (another node's
// announcement): no panic, and a result is always an https URL with a
// host and nothing else.
func FuzzClusterURL(f *testing.F) {
	for _, s := range []string{"", "https://127.0.0.1:8201", "node:1", "https://[::1]:8201", "https://%zz", "a://b/c?d#e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		u := clusterURL(addr)
		if u == nil {
			return
		}
		if u.Scheme != "https" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			t.Fatalf("clusterURL(%q) = %q", addr, u)
		}
		if !strings.HasPrefix(u.String(), "https://") {
			t.Fatalf("clusterURL(%q) = %q", addr, u)
		}
	})
}
