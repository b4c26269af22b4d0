package framework

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Collection is a set of named records of type T, each stored as JSON at
// Prefix+name in Storage: an engine's roles, connections or certificates.
// It gives the load, store, delete, list and exists steps every such set
// needs, and handlers for the list, read, delete and existence-check
// operations of its paths, so that an engine writes only what is its own:
// the write handler and the shape of a read.
//
// A Collection is a value to keep in the backend struct; it holds no state
// of its own beyond its fields, which must not change after the first
// request. It is safe for concurrent use when Storage is.
type Collection[T any] struct {
	// Storage holds the records; usually the mount's [logical.Env]
	// storage.
	Storage logical.Storage
	// Prefix is the storage key prefix of the records, ending in "/"
	// ("role/").
	Prefix string
	// Lock, when set, returns the mutex that serialises the
	// read-modify-writes of record name; [Collection.DeleteHandler]
	// holds it while deleting. Nil means deletes take no lock.
	Lock func(name string) sync.Locker
}

// NameFunc returns the name of the record a request addresses, from the
// path's captures. An error refuses the request (and makes an existence
// check report "does not exist").
type NameFunc func(m *Match) (string, error)

// Capture is a [NameFunc] that takes the capture group as it is.
func Capture(group string) NameFunc {
	return func(m *Match) (string, error) { return m.Get(group), nil }
}

// Key returns the storage key of record name.
func (c *Collection[T]) Key(name string) string { return c.Prefix + name }

// Get returns record name, or (nil, nil) when there is none.
func (c *Collection[T]) Get(ctx context.Context, name string) (*T, error) {
	var v T
	found, err := GetJSON(ctx, c.Storage, c.Key(name), &v)
	if err != nil || !found {
		return nil, err
	}
	return &v, nil
}

// Exists reports whether record name is stored. It does not decode it.
func (c *Collection[T]) Exists(ctx context.Context, name string) (bool, error) {
	e, err := c.Storage.Get(ctx, c.Key(name))
	if err != nil {
		return false, fmt.Errorf("read %s: %w", c.Key(name), err)
	}
	return e != nil, nil
}

// Put stores v as record name.
func (c *Collection[T]) Put(ctx context.Context, name string, v *T) error {
	return PutJSON(ctx, c.Storage, c.Key(name), v)
}

// PutOp returns the transaction step that stores v as record name, for a
// write that must change other keys in the same [logical.Storage.Txn].
func (c *Collection[T]) PutOp(name string, v *T) (logical.TxnOp, error) {
	return PutJSONOp(c.Key(name), v)
}

// Delete removes record name; deleting a missing record succeeds.
func (c *Collection[T]) Delete(ctx context.Context, name string) error {
	if err := c.Storage.Delete(ctx, c.Key(name)); err != nil {
		return fmt.Errorf("delete %s: %w", c.Key(name), err)
	}
	return nil
}

// List returns the names of the stored records, sorted.
func (c *Collection[T]) List(ctx context.Context) ([]string, error) {
	keys, err := c.Storage.List(ctx, c.Prefix)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", strings.TrimSuffix(c.Prefix, "/"), err)
	}
	return keys, nil
}

// Each calls fn with every stored record in name order, reading them one
// at a time; a record deleted since the list is skipped. It stops at
// fn's first error and returns it.
func (c *Collection[T]) Each(ctx context.Context, fn func(name string, v *T) error) error {
	names, err := c.List(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		v, err := c.Get(ctx, name)
		if err != nil {
			return err
		}
		if v == nil {
			continue // deleted since the list
		}
		if err := fn(name, v); err != nil {
			return err
		}
	}
	return nil
}

// Hold locks record name with [Collection.Lock] and returns the function
// that unlocks it; both do nothing when Lock is nil.
func (c *Collection[T]) Hold(name string) (release func()) {
	if c.Lock == nil {
		return func() {}
	}
	l := c.Lock(name)
	l.Lock()
	return l.Unlock
}

// ListHandler answers a list operation with the names of the records in
// Vault's shape ([ListResponse]: no records is a 404).
func (c *Collection[T]) ListHandler() Handler {
	return func(ctx context.Context, _ *logical.Request, _ *Match) (*logical.Response, error) {
		keys, err := c.List(ctx)
		if err != nil {
			return nil, err
		}
		return ListResponse(keys)
	}
}

// ExistenceCheck returns a [Path.ExistenceCheck] reporting whether the
// record named by name exists. A name that name refuses does not exist:
// the write handler then reports why.
func (c *Collection[T]) ExistenceCheck(name NameFunc) func(context.Context, *logical.Request, *Match) (bool, error) {
	return func(ctx context.Context, _ *logical.Request, m *Match) (bool, error) {
		n, err := name(m)
		if err != nil {
			return false, nil
		}
		return c.Exists(ctx, n)
	}
}

// ReadHandler answers a read of the record named by name with
// data(record) as the response data. A missing record is (nil, nil),
// which core answers with 404.
func (c *Collection[T]) ReadHandler(name NameFunc, data func(*T) any) Handler {
	return func(ctx context.Context, _ *logical.Request, m *Match) (*logical.Response, error) {
		n, err := name(m)
		if err != nil {
			return nil, err
		}
		v, err := c.Get(ctx, n)
		if err != nil || v == nil {
			return nil, err
		}
		return &logical.Response{Data: data(v)}, nil
	}
}

// DeleteHandler answers a delete of the record named by name, holding
// [Collection.Lock] for it. Deleting a missing record succeeds.
func (c *Collection[T]) DeleteHandler(name NameFunc) Handler {
	return func(ctx context.Context, _ *logical.Request, m *Match) (*logical.Response, error) {
		n, err := name(m)
		if err != nil {
			return nil, err
		}
		defer c.Hold(n)()
		return nil, c.Delete(ctx, n)
	}
}

// CollectionPaths describes the two paths of a [Collection] for
// [Collection.Paths]: Base+"/?" lists the records, and
// Base+"/(?P<Capture>NamePattern)" reads, writes and deletes one.
type CollectionPaths[T any] struct {
	// Base is the list path without its trailing slash ("role").
	Base string
	// Capture is the name of the path's capture group that holds the
	// record name ("name").
	Capture string
	// NamePattern is the regular expression of the capture; empty means
	// `[^/]+`.
	NamePattern string
	// Name checks the captured name; nil takes it as it is
	// ([Capture]).
	Name NameFunc
	// Data is the data of a read: see [Collection.ReadHandler].
	Data func(*T) any
	// Write, when set, handles update (and so create) of a record.
	Write Handler
	// Operations are the record path's other handlers (patch, say); one
	// for read or delete replaces the Collection's own.
	Operations map[logical.Operation]Handler
	// Noun names a record in the help lines ("role": "List roles." and
	// "Create, read, update and delete a role."); ListSynopsis and
	// Synopsis, when set, replace those lines.
	Noun, ListSynopsis, Synopsis string
}

// Paths returns the list path and the record path of p, with the list,
// read, delete and existence-check handlers of c.
func (c *Collection[T]) Paths(p CollectionPaths[T]) []*Path {
	name := p.Name
	if name == nil {
		name = Capture(p.Capture)
	}
	ops := map[logical.Operation]Handler{
		logical.ReadOperation:   c.ReadHandler(name, p.Data),
		logical.DeleteOperation: c.DeleteHandler(name),
	}
	if p.Write != nil {
		ops[logical.UpdateOperation] = p.Write
	}
	maps.Copy(ops, p.Operations)
	listSyn, syn := p.ListSynopsis, p.Synopsis
	if listSyn == "" {
		listSyn = "List " + p.Noun + "s."
	}
	if syn == "" {
		syn = "Create, read, update and delete a " + p.Noun + "."
	}
	pattern := p.NamePattern
	if pattern == "" {
		pattern = `[^/]+`
	}
	return []*Path{
		{
			Pattern:    p.Base + `/?`,
			Operations: map[logical.Operation]Handler{logical.ListOperation: c.ListHandler()},
			Synopsis:   listSyn,
		},
		{
			Pattern:        p.Base + `/(?P<` + p.Capture + `>` + pattern + `)`,
			Operations:     ops,
			ExistenceCheck: c.ExistenceCheck(name),
			Synopsis:       syn,
		},
	}
}
