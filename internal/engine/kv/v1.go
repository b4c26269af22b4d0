package kv

import (
	"context"
	"encoding/json"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// v1Prefix is where KV version 1 keeps secrets in the mount's storage.
const v1Prefix = "v1/"

// backendV1 is KV version 1: one JSON object per path, overwritten in
// place.
type backendV1 struct {
	framework.Backend
	storage logical.Storage
	events  logical.EventSender
}

func newV1(env logical.Env) (*backendV1, error) {
	b := &backendV1{storage: env.Storage, events: env.Events}
	b.Paths = []*framework.Path{{
		Pattern: `(?P<path>.*)`,
		Operations: map[logical.Operation]framework.Handler{
			logical.ReadOperation:   b.read,
			logical.ListOperation:   b.list,
			logical.UpdateOperation: b.write,
			logical.DeleteOperation: b.delete,
		},
		ExistenceCheck: b.exists,
		Synopsis:       "Read, write, list and delete unversioned secrets.",
	}}
	return b, b.Compile()
}

func (b *backendV1) exists(ctx context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
	p := m.Get("path")
	if checkPath(p) != nil {
		return false, nil
	}
	e, err := b.storage.Get(ctx, v1Prefix+p)
	return e != nil, err
}

// read returns the stored object as the response data, or (nil, nil) when
// there is none (core answers 404).
func (b *backendV1) read(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	e, err := b.storage.Get(ctx, v1Prefix+p)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: json.RawMessage(e.Value)}, nil
}

func (b *backendV1) write(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	data, err := compactData(req.Body)
	if err != nil {
		return nil, err
	}
	if topLevelKeys(data) == 0 {
		return nil, logical.InvalidRequest("missing data fields")
	}
	if err := b.storage.Put(ctx, &logical.StorageEntry{Key: v1Prefix + p, Value: data}); err != nil {
		return nil, err
	}
	sendEvent(ctx, b.events, eventV1Write, p, p, nil)
	return nil, nil
}

func (b *backendV1) delete(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if err := b.storage.Delete(ctx, v1Prefix+p); err != nil {
		return nil, err
	}
	sendEvent(ctx, b.events, eventV1Delete, p, "", nil)
	return nil, nil
}

// list returns the keys and folders under the path; an empty list is
// (nil, nil), which core answers with 404.
func (b *backendV1) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	prefix, err := listPrefix(m.Get("path"))
	if err != nil {
		return nil, err
	}
	if rec, o, err := recursiveQuery(req); err != nil || rec {
		if err != nil {
			return nil, err
		}
		return b.listRecursiveV1(ctx, req, prefix, o)
	}
	keys, err := b.storage.List(ctx, v1Prefix+prefix)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}
