package core

import (
	"context"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Help answers path-help (a request with ?help=1) for path: the help of
// the sys/ path table or of the backend mounted at path, from its path
// table, with the mount point its patterns are relative to. As in Vault, help needs a valid token but no capability on the
// path: it describes the API, never data. A backend that cannot describe
// its paths, or a path no mount serves, is an [logical.ErrUnsupportedPath]
// error.
func (c *Core) Help(ctx context.Context, tok token.ID, path string, conn *logical.Connection) (help *logical.Help, mount string, err error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, "", ErrSealed
	}
	te, _, err := c.tokens.Lookup(ctx, tok, c.now())
	if err != nil {
		return nil, "", err
	}
	if te == nil || (len(te.BoundCIDRs) > 0 && !addrAllowed(conn, te.BoundCIDRs)) {
		return nil, "", logical.PermissionDenied()
	}
	if te.EntityID != "" && c.identity != nil {
		// A disabled entity refuses the token, as for any request.
		if _, err := c.identity.Policies(ctx, te.EntityID); err != nil {
			return nil, "", err
		}
	}
	if path == "sys" || strings.HasPrefix(path, "sys/") {
		help, err = c.sys.Help(strings.TrimPrefix(strings.TrimPrefix(path, "sys"), "/"))
		return help, "sys/", err
	}
	route, rel, _ := c.router.Match(path)
	if route == nil {
		return nil, "", &logical.Error{Kind: logical.ErrUnsupportedPath, Msg: "no handler for route \"" + path + "\": route entry not found"}
	}
	h, ok := route.Backend.(logical.Helper)
	if !ok {
		return nil, "", logical.UnsupportedPath(path)
	}
	help, err = h.Help(rel)
	return help, route.Path, err
}
