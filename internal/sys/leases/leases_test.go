package leases

import (
	"errors"
	"fmt"
	"testing"

	"github.com/coffer-secrets/coffer/internal/lease"
	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestLeaseError(t *testing.T) {
	t.Parallel()
	other := errors.New("disk on fire")
	tests := []struct {
		in      error
		wantMsg string // "" keeps the error as it is
	}{
		{in: fmt.Errorf("lookup: %w", lease.ErrNotFound), wantMsg: "invalid lease"},
		{in: lease.ErrExpired, wantMsg: "lease expired"},
		{in: lease.ErrNotRenewable, wantMsg: "lease is not renewable"},
		{in: other},
	}
	for _, tt := range tests {
		got := leaseError(tt.in, "invalid lease")
		if tt.wantMsg == "" {
			if got != tt.in {
				t.Errorf("leaseError(%v) = %v, want it unchanged", tt.in, got)
			}
			continue
		}
		le, ok := errors.AsType[*logical.Error](got)
		if !ok || !errors.Is(got, logical.ErrInvalidRequest) || le.Msg != tt.wantMsg {
			t.Errorf("leaseError(%v) = %v, want an invalid-request error %q", tt.in, got, tt.wantMsg)
		}
	}
}
