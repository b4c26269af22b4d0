package core

import (
	"context"
	"time"

	"github.com/coffer-secrets/coffer/internal/sys/wrapping"
)

// WrapInfo describes a wrapped response, in Vault's wrap_info shape.
type WrapInfo = wrapping.Info

// cubbyholePrefix returns the storage prefix of the built-in cubbyhole
// mount.
func (c *Core) cubbyholePrefix() string {
	for _, m := range c.Mounts() {
		if m.Builtin && m.Type == "cubbyhole" {
			return m.StoragePrefix()
		}
	}
	return ""
}

// WrapResponse stores body (a complete response envelope) in the
// cubbyhole of a new single-use token that lives for ttl, and returns the
// wrapping information for the client.
func (c *Core) WrapResponse(ctx context.Context, body []byte, ttl time.Duration, creationPath, wrappedAccessor string) (*WrapInfo, error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, ErrSealed
	}
	return c.wrapping.Wrap(ctx, body, ttl, creationPath, wrappedAccessor)
}

// isWrappingPath reports whether path is served by the wrapping-token
// checks of [wrapping.Wrapper.Handle] rather than by ACLs: the token in
// the request is the credential.
func isWrappingPath(path string) bool {
	switch path {
	case "sys/wrapping/unwrap", "sys/wrapping/lookup", "sys/wrapping/rewrap":
		return true
	}
	return false
}

// handleWrapping serves unwrap, lookup and rewrap.
func (c *Core) handleWrapping(ctx context.Context, req *Request) (*Response, error) {
	resp, info, err := c.wrapping.Handle(ctx, req.Request, string(req.ClientToken))
	if err != nil {
		return nil, err
	}
	return &Response{MountType: "system", Response: resp, Wrap: info}, nil
}
