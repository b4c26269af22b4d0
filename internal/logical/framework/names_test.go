package framework

import (
	"errors"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"web", "web", true},
		{"Web-App_1.v2", "web-app_1.v2", true},
		{"", "", false},
		{".", "", false},
		{"..", "", false},
		{"a/b", "", false},
		{"a b", "", false},
		{"ü", "", false},
		{strings.Repeat("a", MaxNameBytes), strings.Repeat("a", MaxNameBytes), true},
		{strings.Repeat("a", MaxNameBytes+1), "", false},
	}
	for _, tt := range tests {
		got, err := Name("role", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Name(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && (!errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "invalid role name")) {
			t.Errorf("Name(%q) error = %v", tt.in, err)
		}
	}
}
