package core

import (
	"context"
	"encoding/json"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/token"
)

// wrappingPolicy marks response-wrapping tokens. No stored policy has this
// name, so such a token can do nothing but be unwrapped or looked up.
const wrappingPolicy = "response-wrapping"

// wrapResponseKey is where a wrapped response lives in its token's
// cubbyhole.
const wrapResponseKey = "response"

// WrapInfo describes a wrapped response, in Vault's wrap_info shape.
type WrapInfo struct {
	Token           string `json:"token"`
	Accessor        string `json:"accessor"`
	TTL             int64  `json:"ttl"`
	CreationTime    string `json:"creation_time"`
	CreationPath    string `json:"creation_path"`
	WrappedAccessor string `json:"wrapped_accessor,omitempty"`
}

// wrapMeta is what the wrapping token's metadata records.
const (
	metaCreationPath = "creation_path"
)

// cubbyholePrefix returns the storage prefix of the built-in cubbyhole
// mount.
func (c *Core) cubbyholePrefix() string {
	for _, m := range c.Mounts() {
		if m.Builtin && m.Type == "cubbyhole" {
			return m.storagePrefix()
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
	return c.wrapLocked(ctx, body, ttl, creationPath, wrappedAccessor)
}

func (c *Core) wrapLocked(ctx context.Context, body []byte, ttl time.Duration, creationPath, wrappedAccessor string) (*WrapInfo, error) {
	if ttl <= 0 {
		return nil, logical.InvalidRequest("wrapping TTL must be positive")
	}
	if ttl > c.opts.MaxLeaseTTL {
		return nil, logical.InvalidRequest("wrapping TTL %s is above the server's maximum %s", ttl, c.opts.MaxLeaseTTL)
	}
	prefix := c.cubbyholePrefix()
	if prefix == "" {
		return nil, logical.InvalidRequest("response wrapping needs the cubbyhole mount")
	}
	now := c.now()
	e := &token.Entry{
		Policies:    []string{wrappingPolicy},
		DisplayName: "response-wrapping",
		Path:        "sys/wrapping/wrap",
		Meta:        map[string]string{metaCreationPath: creationPath},
		TTL:         ttl,
		NumUses:     1,
		Type:        token.TypeService,
	}
	id, hash, err := c.tokens.Create(ctx, "", e, now)
	if err != nil {
		return nil, err
	}
	if err := c.barrier.Put(ctx, storageEntry(prefix+hash+"/"+wrapResponseKey, body)); err != nil {
		c.tokens.Revoke(context.WithoutCancel(ctx), hash)
		return nil, err
	}
	return &WrapInfo{
		Token:           string(id),
		Accessor:        e.Accessor,
		TTL:             int64(ttl / time.Second),
		CreationTime:    now.Format(time.RFC3339Nano),
		CreationPath:    creationPath,
		WrappedAccessor: wrappedAccessor,
	}, nil
}

// wrappingToken finds a live wrapping token.
func (c *Core) wrappingToken(ctx context.Context, id string) (*token.Entry, string, error) {
	if id == "" {
		return nil, "", logical.InvalidRequest("missing wrapping token")
	}
	e, hash, err := c.tokens.Lookup(ctx, token.ID(id), c.now())
	if err != nil {
		return nil, "", err
	}
	if e == nil || hash == "" || len(e.Policies) != 1 || e.Policies[0] != wrappingPolicy {
		return nil, "", logical.InvalidRequest("wrapping token is not valid or does not exist")
	}
	return e, hash, nil
}

// unwrap consumes a wrapping token and returns the response it holds. The
// token's single use makes a second unwrap fail, even a concurrent one.
func (c *Core) unwrap(ctx context.Context, id string) ([]byte, error) {
	_, hash, err := c.wrappingToken(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := c.tokens.Use(ctx, hash); err != nil {
		return nil, logical.InvalidRequest("wrapping token is not valid or does not exist")
	}
	se, err := c.barrier.Get(ctx, c.cubbyholePrefix()+hash+"/"+wrapResponseKey)
	if err != nil {
		return nil, err
	}
	// Revoking the token deletes its cubbyhole, and the response with it.
	if rerr := c.tokens.Revoke(context.WithoutCancel(ctx), hash); rerr != nil {
		c.logger.Error("revoke a used wrapping token", "err", rerr)
	}
	if se == nil {
		return nil, logical.InvalidRequest("wrapping token holds no response")
	}
	return se.Value, nil
}

// isWrappingPath reports whether path is served by the wrapping-token
// checks below rather than by ACLs: the token in the request is the
// credential.
func isWrappingPath(path string) bool {
	switch path {
	case "sys/wrapping/unwrap", "sys/wrapping/lookup", "sys/wrapping/rewrap":
		return true
	}
	return false
}

type wrapTokenInput struct {
	Token string `json:"token"`
}

// handleWrapping serves unwrap, lookup and rewrap. The wrapping token
// comes in the body or, for unwrap and rewrap, as the request's token.
func (c *Core) handleWrapping(ctx context.Context, req *Request) (*Response, error) {
	var in wrapTokenInput
	if err := framework.DecodeBody(req.Body, &in); err != nil {
		return nil, err
	}
	if in.Token == "" && req.Query != nil {
		in.Token = req.Query.Get("token")
	}
	if in.Token == "" && req.Path != "sys/wrapping/lookup" {
		in.Token = string(req.ClientToken)
	}
	switch req.Path {
	case "sys/wrapping/lookup":
		e, _, err := c.wrappingToken(ctx, in.Token)
		if err != nil {
			return nil, err
		}
		return &Response{MountType: "system", Response: &logical.Response{Data: map[string]any{
			"creation_path": e.Meta[metaCreationPath],
			"creation_time": e.CreationTime.Format(time.RFC3339Nano),
			"creation_ttl":  int64(e.CreationTTL / time.Second),
		}}}, nil
	case "sys/wrapping/unwrap":
		body, err := c.unwrap(ctx, in.Token)
		if err != nil {
			return nil, err
		}
		return &Response{MountType: "system", Response: &logical.Response{Raw: &logical.RawResponse{ContentType: "application/json", Body: body}}}, nil
	default: // rewrap
		e, _, err := c.wrappingToken(ctx, in.Token)
		if err != nil {
			return nil, err
		}
		path := e.Meta[metaCreationPath]
		body, err := c.unwrap(ctx, in.Token)
		if err != nil {
			return nil, err
		}
		info, err := c.wrapLocked(ctx, body, e.CreationTTL, path, "")
		if err != nil {
			return nil, err
		}
		return &Response{MountType: "system", Wrap: info}, nil
	}
}

// checkWrapTTL applies the policies' wrapping TTL bounds to a request
// that asks (or does not ask) for its response to be wrapped.
func checkWrapTTL(minTTL, maxTTL, ttl time.Duration) error {
	if ttl <= 0 {
		if minTTL > 0 || maxTTL > 0 {
			return logical.PermissionDenied()
		}
		return nil
	}
	if (minTTL > 0 && ttl < minTTL) || (maxTTL > 0 && ttl > maxTTL) {
		return logical.PermissionDenied()
	}
	return nil
}

// wrapPaths serves sys/wrapping/wrap: wrap the request's own data.
func (c *Core) wrapPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    `wrapping/wrap`,
		Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysWrap},
		Synopsis:   "Wrap the request's data in a single-use token.",
	}}
}

func (c *Core) sysWrap(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	if len(req.Body) == 0 {
		return nil, logical.InvalidRequest("missing data to wrap")
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &data); err != nil {
		return nil, logical.InvalidRequest("the data to wrap must be a JSON object")
	}
	// The response to wrap is the data itself; the HTTP layer wraps it
	// because the request carries a wrap TTL (required for this path).
	return &logical.Response{Data: json.RawMessage(req.Body)}, nil
}
