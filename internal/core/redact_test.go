package core

import (
	"errors"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func TestRedactPath(t *testing.T) {
	t.Parallel()
	c, err := New(Options{Physical: inmem.New()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want string }{
		{"secret/data/s.abc", "secret/data/s.abc"},
		{"auth/token/lookup", "auth/token/lookup"},
		{"auth/token/lookup-self", "auth/token/lookup-self"},
		{"auth/token/roles/web", "auth/token/roles/web"},
		{"auth/token/create/web", "auth/token/create/web"},
		{"auth/token/accessors/", "auth/token/accessors/"},
		{"auth/token/", "auth/token/"},
		{"auth/token/lookup/hvs.secret", "auth/token/lookup/[redacted]"},
		{"auth/token/revoke/hvs.secret/x", "auth/token/revoke/[redacted]"},
		{"auth/token/roles/web/hvs.secret", "auth/token/roles/[redacted]"},
		{"auth/token/hvs.secret", "auth/token/[redacted]"},
		{"auth/token/hvs.secret/lookup", "auth/token/[redacted]"},
		{"auth/token//hvs.secret", "auth/token/[redacted]"},
		{"auth/token/lookup/", "auth/token/lookup/[redacted]"},
	}
	for _, tt := range tests {
		if got := c.RedactPath(tt.in); got != tt.want {
			t.Errorf("RedactPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	err = c.redactError("auth/token/lookup/hvs.secret", logical.UnsupportedPath("lookup/hvs.secret"))
	if !errors.Is(err, logical.ErrUnsupportedPath) || strings.Contains(err.Error(), "hvs.secret") || !strings.Contains(err.Error(), "lookup/[redacted]") {
		t.Errorf("redactError = %v, want an unsupported path naming lookup/[redacted]", err)
	}
	plain := logical.UnsupportedPath("nope")
	if got := c.redactError("secret/nope", plain); got != plain {
		t.Errorf("redactError changed the error of a path that needs no redaction: %v", got)
	}
}
