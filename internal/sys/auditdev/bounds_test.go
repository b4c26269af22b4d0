package auditdev

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TestTrailCall: the request paths a search skips.
func TestTrailCall(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want bool
	}{
		{"sys/audit/file/search", true},
		{"sys/audit/file/verify", true},
		{"sys/audit/a/b/search", true},
		{"team/sys/audit/file/search", true},
		{"sys/audit/file/head", false},
		{"sys/audit/search", false},
		{"sys/audit/file", false},
		{"secret/data/sys/audit/x/searchable", false},
		{"mysys/audit/file/search", false},
		{"secret/data/app", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := trailCall(tc.path); got != tc.want {
			t.Errorf("trailCall(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestClaim: one verify or search per device at a time; another device
// is not held up, and the device is free again once the first is done.
func TestClaim(t *testing.T) {
	t.Parallel()
	tb := New(Options{Logger: slog.New(slog.DiscardHandler)})
	done, err := tb.claim("file/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.claim("file/"); !errors.Is(err, logical.ErrRateLimited) {
		t.Errorf("second claim of file/: %v, want a rate-limit error", err)
	}
	other, err := tb.claim("other/")
	if err != nil {
		t.Errorf("claim of another device: %v", err)
	} else {
		other()
	}
	done()
	again, err := tb.claim("file/")
	if err != nil {
		t.Fatalf("claim after done: %v", err)
	}
	again()
}
