package core

import (
	"context"
	"crypto/rand"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// generatePassword makes a password with the named password policy.
// Until password policies land, only the default exists: 20 random
// base32 characters (100 bits) from crypto/rand.
func (c *Core) generatePassword(ctx context.Context, policy string) (string, error) {
	if policy != "" {
		return "", logical.InvalidRequest("unknown password policy %q", policy)
	}
	return rand.Text()[:20], nil
}
