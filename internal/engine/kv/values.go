package kv

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The leak index (sys/leaks/check) learns of every change to a secret's
// values through one place: the mount's storage, wrapped by [watchValues]
// so that any write or delete of a version, of a key's metadata (which
// lists the versions and says which is current) or of a version 1 secret
// tells env.Values which secret changed. Writes, patches, deletes,
// destroys, undeletes, metadata deletes, trimming to max_versions,
// trash and recovery and scheduled rotation all go through it.

// kindKV is the kind of a KV secret in [logical.SecretValues].
const kindKV = "kv"

// watchValues returns env with its storage wrapped to tell env.Values of
// every secret whose values a storage change may have changed.
func watchValues(env logical.Env) logical.Env {
	values := env.Values
	env.Storage = &framework.WatchedStorage{Storage: env.Storage, Changed: func(key string) {
		if p, ok := secretOfKey(key); ok {
			values.ValuesChanged(p)
		}
	}}
	return env
}

// secretOfKey returns the secret path a storage key belongs to: the key
// of its metadata ("meta/p"), of its trash entry ("life/trash/p"), of one
// of its versions ("ver/p/3") or of a version 1 secret ("v1/p"). Other
// keys hold no values.
func secretOfKey(key string) (string, bool) {
	switch {
	case strings.HasPrefix(key, metaPrefix):
		return key[len(metaPrefix):], true
	case strings.HasPrefix(key, trashPrefix):
		return key[len(trashPrefix):], true
	case strings.HasPrefix(key, verPrefix):
		rest := key[len(verPrefix):]
		i := strings.LastIndexByte(rest, '/')
		if i <= 0 {
			return "", false
		}
		return rest[:i], true
	case strings.HasPrefix(key, v1Prefix):
		return key[len(v1Prefix):], true
	}
	return "", false
}

// ValueKeys calls fn with the path of every key of the mount. It
// implements [logical.ValueSource].
func (b *backendV2) ValueKeys(ctx context.Context, fn func(string) (bool, error)) error {
	more := true
	err := walkSorted(ctx, b.storage, metaPrefix, "", "", "", func(p string) (bool, error) {
		var err error
		more, err = fn(p)
		return more, err
	})
	if err != nil || !more {
		return err
	}
	// Then the trashed secrets (deleted with a recovery window), which
	// SecretValues reads from the trash.
	return walkSorted(ctx, b.storage, trashPrefix, "", "", "", fn)
}

// SecretValues returns the string values of every retained version of p
// that is not destroyed (soft-deleted versions included: their data is
// kept and can be undeleted), the current version's marked current. A
// secret in the trash (deleted with a recovery window) has its values
// returned as they were, Trashed and none current. It implements
// [logical.ValueSource].
func (b *backendV2) SecretValues(ctx context.Context, p string) (*logical.SecretValues, error) {
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	trashed := false
	if meta == nil {
		t, err := loadTrash(ctx, b.storage, p)
		if err != nil || t == nil {
			return nil, err
		}
		meta, trashed = &t.Meta, true
	}
	out := &logical.SecretValues{Kind: kindKV, Path: p, ReadPath: "data/" + p, Trashed: trashed}
	for _, v := range meta.Versions {
		if v.Destroyed {
			continue
		}
		e, err := b.storage.Get(ctx, verKey(p, v.N))
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		out.Values = appendStrings(out.Values, e.Value, v.N, !trashed && v.N == meta.Current)
	}
	return out, nil
}

// ValueKeys calls fn with the path of every secret of the mount. It
// implements [logical.ValueSource].
func (b *backendV1) ValueKeys(ctx context.Context, fn func(string) (bool, error)) error {
	return walkSorted(ctx, b.storage, v1Prefix, "", "", "", fn)
}

// SecretValues returns the string values of the secret at p. It
// implements [logical.ValueSource].
func (b *backendV1) SecretValues(ctx context.Context, p string) (*logical.SecretValues, error) {
	e, err := b.storage.Get(ctx, v1Prefix+p)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.SecretValues{Kind: kindKV, Path: p, ReadPath: p, Values: appendStrings(nil, e.Value, 0, true)}, nil
}

// appendStrings appends every string in the JSON object data (nested
// objects and arrays included, fields named "a.b" and "a.0") to out. Data
// that does not decode adds nothing.
func appendStrings(out []logical.SecretValue, data []byte, version int, current bool) []logical.SecretValue {
	var obj map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if d.Decode(&obj) != nil {
		return out
	}
	var walk func(field string, v any)
	walk = func(field string, v any) {
		switch x := v.(type) {
		case string:
			out = append(out, logical.SecretValue{Field: field, Value: x, Version: version, Current: current})
		case map[string]any:
			for k, y := range x {
				walk(field+"."+k, y)
			}
		case []any:
			for i, y := range x {
				walk(field+"."+strconv.Itoa(i), y)
			}
		}
	}
	for k, v := range obj {
		walk(k, v)
	}
	return out
}
