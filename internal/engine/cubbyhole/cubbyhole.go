// Package cubbyhole is the per-token private secret store mounted at
// cubbyhole/. Each token sees only its own cubbyhole: core gives every
// request the token's opaque CubbyholeID, and every key is stored under
// it. Core deletes a token's cubbyhole when the token is revoked.
package cubbyhole

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// MaxDataBytes limits one secret's JSON size.
const MaxDataBytes = 1 << 20

type backend struct {
	storage logical.Storage
	fw      *framework.Backend
}

// Factory builds the cubbyhole backend.
func Factory(ctx context.Context, env logical.Env) (logical.Backend, error) {
	b := &backend{storage: env.Storage}
	b.fw = &framework.Backend{Paths: []*framework.Path{
		{
			Pattern: `(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.read,
				logical.ListOperation:   b.list,
				logical.UpdateOperation: b.write,
				logical.DeleteOperation: b.delete,
			},
			ExistenceCheck: b.exists,
			Synopsis:       "Read, write, list and delete secrets private to the calling token.",
		},
	}}
	if err := b.fw.Compile(); err != nil {
		return nil, err
	}
	return b, nil
}

// HandleRequest serves one request within the caller's cubbyhole.
func (b *backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	if req.CubbyholeID == "" {
		return nil, logical.PermissionDenied()
	}
	return b.fw.HandleRequest(ctx, req)
}

// Help implements [logical.Helper] from the path table.
func (b *backend) Help(path string) (*logical.Help, error) { return b.fw.Help(path) }

// ExistenceCheck tells create from update.
func (b *backend) ExistenceCheck(ctx context.Context, req *logical.Request) (bool, bool, error) {
	if req.CubbyholeID == "" {
		return false, false, nil
	}
	return b.fw.ExistenceCheck(ctx, req)
}

// key returns the storage key of path in the caller's cubbyhole.
func key(req *logical.Request, path string) (string, error) {
	if path == "" || strings.HasSuffix(path, "/") {
		return "", logical.InvalidRequest("missing secret path")
	}
	return req.CubbyholeID + "/" + path, nil
}

func (b *backend) exists(ctx context.Context, req *logical.Request, m *framework.Match) (bool, error) {
	k, err := key(req, m.Get("path"))
	if err != nil {
		return false, nil
	}
	e, err := b.storage.Get(ctx, k)
	return e != nil, err
}

func (b *backend) read(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	k, err := key(req, m.Get("path"))
	if err != nil {
		return nil, err
	}
	e, err := b.storage.Get(ctx, k)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: json.RawMessage(e.Value)}, nil
}

func (b *backend) write(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	k, err := key(req, m.Get("path"))
	if err != nil {
		return nil, err
	}
	if len(req.Body) == 0 {
		return nil, logical.InvalidRequest("missing data fields")
	}
	if len(req.Body) > MaxDataBytes {
		return nil, &logical.Error{Kind: logical.ErrTooLarge, Msg: "a cubbyhole secret may hold at most 1 MiB of JSON"}
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(req.Body, &obj); err != nil {
		return nil, logical.InvalidRequest("the body must be a JSON object")
	}
	if len(obj) == 0 {
		// Vault refuses an empty secret too (with a 500); this is the
		// client's mistake, so 400.
		return nil, logical.InvalidRequest("missing data fields")
	}
	return nil, b.storage.Put(ctx, &logical.StorageEntry{Key: k, Value: req.Body})
}

func (b *backend) delete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	k, err := key(req, m.Get("path"))
	if err != nil {
		return nil, err
	}
	return nil, b.storage.Delete(ctx, k)
}

func (b *backend) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if p != "" && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	keys, err := b.storage.List(ctx, req.CubbyholeID+"/"+p)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}
