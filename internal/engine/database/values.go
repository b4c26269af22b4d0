package database

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// kindStaticRole is the kind of a static role's password in
// [logical.SecretValues].
const kindStaticRole = "database-static-role"

// watchValues returns env with its storage wrapped to tell env.Values of
// every static role written or deleted: a role's creation, each rotation
// (its pending password, then its password) and its deletion all store
// static-role/NAME, so the leak index always knows the current password.
func watchValues(env logical.Env) logical.Env {
	values := env.Values
	env.Storage = &framework.WatchedStorage{Storage: env.Storage, Changed: func(key string) {
		if name, ok := strings.CutPrefix(key, staticRolePrefix); ok {
			values.ValuesChanged(name)
		}
	}}
	return env
}

// ValueKeys calls fn with the name of every static role, in order. It
// implements [logical.ValueSource].
func (b *backend) ValueKeys(ctx context.Context, fn func(string) (bool, error)) error {
	names, err := b.statics.List(ctx)
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, n := range names {
		if more, err := fn(n); err != nil || !more {
			return err
		}
	}
	return nil
}

// SecretValues returns the static role's current password (a rotation
// still pending is not in use yet, and the password it replaces no longer
// works, so neither is returned). It implements [logical.ValueSource].
func (b *backend) SecretValues(ctx context.Context, name string) (*logical.SecretValues, error) {
	r, err := b.statics.Get(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	out := &logical.SecretValues{Kind: kindStaticRole, Path: "static-creds/" + name, ReadPath: "static-creds/" + name}
	if r.Password != "" {
		out.Values = []logical.SecretValue{{Field: "password", Value: r.Password, Current: true}}
	}
	return out, nil
}
