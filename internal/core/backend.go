package core

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// MountedBackend answers the backend mounted at exactly path (a mount
// path such as "auth/awskeys/"), for in-process callers that use Go
// methods of their own interface on it: the AWS SigV4 verifier reads an
// access key's signing secrets this way, never through the API. ok is
// false when sealed or when nothing is mounted there.
func (c *Core) MountedBackend(path string) (be logical.Backend, mountType string, ok bool) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, "", false
	}
	route, rel, found := c.router.Match(path)
	if !found || rel != "" || route.Path != path {
		return nil, "", false
	}
	return route.Backend, route.Type, true
}

// TokenLive reports whether client token id can still be used: it exists,
// has not expired nor spent its uses, and its entity (if any) is not
// disabled. It uses nothing up and writes no audit entry: it is for
// in-process callers that cache tokens they made (the AWS SigV4
// authenticator), to drop a revoked one before handing it out again.
func (c *Core) TokenLive(ctx context.Context, id string) (bool, error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return false, ErrSealed
	}
	te, _, err := c.tokens.Lookup(ctx, token.ID(id), c.now())
	if err != nil || te == nil {
		return false, err
	}
	if te.EntityID != "" && c.identity != nil {
		if _, err := c.identity.Policies(ctx, te.EntityID); err != nil {
			return false, nil
		}
	}
	return true, nil
}
