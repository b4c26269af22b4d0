package core

import (
	"context"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
)

// RefuseWithoutToken decides, before the HTTP layer reads a request's
// body, whether the request can only be refused: its path needs a token
// (everything but login paths, the wrapping and ceremony endpoints) and
// req carries none that is live. It then audits the request (without a
// body) and its refusal as [Core.HandleRequest] would, and returns the
// permission-denied error; the caller answers with it and never reads the
// body. Otherwise it returns nil and the caller reads the body and calls
// HandleRequest, which decides everything else (ACL, parameters, sudo).
//
// It only ever refuses: it runs nothing. A sealed or standby node never
// refuses here (the pipeline answers 503, or the active node decides).
// req.Body is not read. An audit failure is returned as is (fail closed).
func (c *Core) RefuseWithoutToken(ctx context.Context, req *Request) error {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() || c.standby() {
		return nil
	}
	needs, route := c.needsToken(req.Path)
	if !needs {
		return nil
	}
	if req.ClientToken != "" {
		te, _, err := c.tokens.Lookup(ctx, req.ClientToken, c.now())
		if err != nil || te != nil {
			// A live token (or a lookup failure) is for the pipeline
			// to judge, with the body.
			return nil
		}
	}
	rec := &auditRecord{start: c.now(), route: route}
	if route == nil {
		rec.mountType, rec.mountPoint = "system", "sys/"
	}
	denied := logical.PermissionDenied()
	if err := c.auditRequest(ctx, req, rec); err != nil {
		return err
	}
	if err := c.auditResponse(ctx, req, rec, nil, denied); err != nil {
		return err
	}
	return denied
}

// needsToken reports whether the pipeline refuses a request to path that
// has no valid token, and for a path outside sys/ the route it matches
// (nil when none does). It follows handleRequest's order of checks. The
// caller holds stateMu for reading.
func (c *Core) needsToken(path string) (bool, *router.Route) {
	if isWrappingPath(path) || isCeremonyPath(path) {
		return false, nil
	}
	if path == "sys" || strings.HasPrefix(path, "sys/") {
		return true, nil
	}
	route, rel, _ := c.router.Match(path)
	if route != nil && isLoginPath(route, rel) {
		return false, route
	}
	return true, route
}
