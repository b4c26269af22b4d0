package core

import (
	"context"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Help answers path-help (a request with ?help=1) for req.Path: the help
// of the sys/ path table or of the backend mounted there, from its path
// table, with the mount point its patterns are relative to. As in Vault,
// help needs a valid token but no capability on the path: it describes the
// API, never data. Like every request it is audited first (operation
// "help") and not answered when no audit device can record it. A backend
// that cannot describe its paths, or a path no mount serves, is an
// [logical.ErrUnsupportedPath] error.
func (c *Core) Help(ctx context.Context, req *Request) (help *logical.Help, mount string, err error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, "", ErrSealed
	}
	req.Operation = logical.HelpOperation
	rec := &auditRecord{start: c.now()}
	help, mount, err = c.help(ctx, req, rec)
	err = c.redactError(req.Path, err)
	if aerr := c.auditRequest(ctx, req, rec); aerr != nil {
		return nil, "", aerr
	}
	if aerr := c.auditResponse(ctx, req, rec, nil, err); aerr != nil {
		return nil, "", aerr
	}
	return help, mount, err
}

// help checks the token and finds the help for Help; it records the
// caller and the mount in rec and writes the request's audit entry before
// it reads any help.
func (c *Core) help(ctx context.Context, req *Request, rec *auditRecord) (*logical.Help, string, error) {
	path := req.Path
	te, _, err := c.tokens.Lookup(ctx, req.ClientToken, c.now())
	if err != nil {
		return nil, "", err
	}
	if te == nil || !te.UsableFrom(req.Connection.RemoteIP()) {
		return nil, "", logical.PermissionDenied()
	}
	rec.caller = &caller{id: req.ClientToken, entry: te}
	if te.EntityID != "" && c.identity != nil {
		// A disabled entity refuses the token, as for any request.
		if _, err := c.identity.Policies(ctx, te.EntityID); err != nil {
			return nil, "", err
		}
	}
	if path == "sys" || strings.HasPrefix(path, "sys/") {
		rec.mountType, rec.mountPoint = "system", "sys/"
		if err := c.auditRequest(ctx, req, rec); err != nil {
			return nil, "", err
		}
		help, err := c.sys.Help(strings.TrimPrefix(strings.TrimPrefix(path, "sys"), "/"))
		return help, "sys/", err
	}
	route, rel, _ := c.router.Match(path)
	rec.route = route
	if err := c.auditRequest(ctx, req, rec); err != nil {
		return nil, "", err
	}
	if route == nil {
		return nil, "", &logical.Error{Kind: logical.ErrUnsupportedPath, Msg: "no handler for route \"" + path + "\": route entry not found"}
	}
	h, ok := route.Backend.(logical.Helper)
	if !ok {
		return nil, "", logical.UnsupportedPath(path)
	}
	help, err := h.Help(rel)
	return help, route.Path, err
}
