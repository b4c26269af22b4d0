package router

import (
	"context"
	"errors"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// View is a [logical.Storage] confined to one key prefix of an underlying
// storage (the barrier). Keys are validated after joining, so no key given
// to a view can reach outside its prefix.
type View struct {
	st     storage.Storage
	prefix string
}

// NewView returns a view of st under prefix, which must end with "/".
func NewView(st storage.Storage, prefix string) *View {
	return &View{st: st, prefix: prefix}
}

// Prefix returns the view's prefix.
func (v *View) Prefix() string { return v.prefix }

// key joins k to the view's prefix. k must be a clean relative path: no
// empty, "." or ".." segments, so that the joined key cannot leave the
// prefix or alias another key.
func (v *View) key(k string) (string, error) {
	if !cleanRelative(k) {
		return "", &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid storage key"}
	}
	full := v.prefix + k
	if err := storage.ValidateKey(full); err != nil {
		return "", &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid storage key", Err: err}
	}
	return full, nil
}

func cleanRelative(k string) bool {
	if k == "" {
		return false
	}
	for seg := range strings.SplitSeq(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// Get reads key from the view.
func (v *View) Get(ctx context.Context, key string) (*logical.StorageEntry, error) {
	full, err := v.key(key)
	if err != nil {
		return nil, err
	}
	e, err := v.st.Get(ctx, full)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.StorageEntry{Key: key, Value: e.Value}, nil
}

// Put writes e under the view.
func (v *View) Put(ctx context.Context, e *logical.StorageEntry) error {
	full, err := v.key(e.Key)
	if err != nil {
		return err
	}
	return v.st.Put(ctx, &storage.Entry{Key: full, Value: e.Value})
}

// Delete removes key from the view.
func (v *View) Delete(ctx context.Context, key string) error {
	full, err := v.key(key)
	if err != nil {
		return err
	}
	return v.st.Delete(ctx, full)
}

// List lists the children of prefix within the view.
func (v *View) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix != "" {
		if !cleanRelative(strings.TrimSuffix(prefix, "/")) {
			return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid storage prefix"}
		}
		if err := storage.ValidateKey(v.prefix + prefix); err != nil {
			return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid storage prefix", Err: err}
		}
	}
	return v.st.List(ctx, v.prefix+prefix)
}

// Txn applies ops atomically within the view.
func (v *View) Txn(ctx context.Context, ops []logical.TxnOp) error {
	out := make([]storage.Op, 0, len(ops))
	for _, op := range ops {
		full, err := v.key(op.Key)
		if err != nil {
			return err
		}
		if op.Delete {
			out = append(out, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: full}})
		} else {
			out = append(out, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: full, Value: op.Value}})
		}
	}
	return v.st.Txn(ctx, out)
}

// Clear deletes every key under the view, in batches; used when a mount is
// disabled.
func Clear(ctx context.Context, st storage.Storage, prefix string) error {
	var walk func(p string) ([]string, error)
	walk = func(p string) ([]string, error) {
		names, err := st.List(ctx, p)
		if err != nil {
			return nil, err
		}
		var keys []string
		for _, n := range names {
			if n[len(n)-1] == '/' {
				sub, err := walk(p + n)
				if err != nil {
					return nil, err
				}
				keys = append(keys, sub...)
				continue
			}
			keys = append(keys, p+n)
		}
		return keys, nil
	}
	keys, err := walk(prefix)
	if err != nil {
		return err
	}
	const batch = 1000
	var errs []error
	for len(keys) > 0 {
		n := min(batch, len(keys))
		ops := make([]storage.Op, n)
		for i, k := range keys[:n] {
			ops[i] = storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: k}}
		}
		if err := st.Txn(ctx, ops); err != nil {
			errs = append(errs, err)
		}
		keys = keys[n:]
	}
	return errors.Join(errs...)
}
