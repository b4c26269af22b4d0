package core

import (
	"github.com/coffer-secrets/coffer/internal/logical"
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
