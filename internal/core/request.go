package core

import (
	"context"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// Request is a client request as core sees it: the backend's part, plus
// what only core may know.
type Request struct {
	*logical.Request
	// ClientToken is the caller's token, "" when none was sent.
	ClientToken token.ID
}

// Response is a backend's response plus what the HTTP layer reports with
// it.
type Response struct {
	*logical.Response
	// MountType is the type of the mount that answered, e.g. "kv".
	MountType string
}

// HandleRequest runs the pipeline: seal check, token lookup, permission
// check, then the sys handlers or the mounted backend. Errors carry the
// logical error kinds, [ErrSealed] or an internal cause.
func (c *Core) HandleRequest(ctx context.Context, req *Request) (*Response, error) {
	if req.Path == "sys/seal" {
		return nil, c.handleSealRequest(ctx, req)
	}
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	te, err := c.authorize(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Path == "sys" || strings.HasPrefix(req.Path, "sys/") {
		resp, err := c.handleSys(ctx, req, te)
		return &Response{Response: resp, MountType: "system"}, err
	}
	route, rel, ok := c.router.Match(req.Path)
	if !ok {
		return nil, &logical.Error{Kind: logical.ErrUnsupportedPath, Msg: "no handler for route \"" + req.Path + "\": route entry not found"}
	}
	lreq := *req.Request
	lreq.Path = rel
	lreq.MountPoint = route.Path
	resp, err := route.Backend.HandleRequest(ctx, &lreq)
	if err != nil {
		return nil, err
	}
	return &Response{Response: resp, MountType: route.Type}, nil
}

// authorize checks the seal and the caller's token and permission. The
// caller holds stateMu for reading.
func (c *Core) authorize(ctx context.Context, req *Request) (*token.Entry, error) {
	if c.Sealed() {
		return nil, ErrSealed
	}
	te, err := c.tokens.Lookup(ctx, req.ClientToken, c.now())
	if err != nil {
		return nil, err
	}
	if te == nil {
		return nil, logical.PermissionDenied()
	}
	// Until ACL policies land, only root tokens exist and they may do
	// everything; any other token is refused.
	if !te.IsRoot() {
		return nil, logical.PermissionDenied()
	}
	return te, nil
}

// handleSealRequest serves sys/seal. It checks the caller under the read
// lock, then seals under the write lock, so the seal is complete when the
// response is sent.
func (c *Core) handleSealRequest(ctx context.Context, req *Request) error {
	if req.Operation != logical.UpdateOperation && req.Operation != logical.CreateOperation {
		return logical.Unsupported(req.Operation, req.Path)
	}
	c.stateMu.RLock()
	_, err := c.authorize(ctx, req)
	c.stateMu.RUnlock()
	if err != nil {
		return err
	}
	return c.Seal(ctx)
}
