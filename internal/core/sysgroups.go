package core

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/coffer-secrets/coffer/internal/lockout"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/sys/mounts"
	"github.com/coffer-secrets/coffer/internal/sys/plugins"
	"github.com/coffer-secrets/coffer/internal/sys/policies"
	"github.com/coffer-secrets/coffer/internal/sys/search"
	"github.com/coffer-secrets/coffer/internal/token"
)

// The sys/ endpoint groups under internal/sys reach core through the
// small interfaces each declares; the adapters here implement them, so
// that no group sees *Core.

// mountsCore is the mount table as [mounts.Core].
type mountsCore struct{ c *Core }

func (a mountsCore) Mounts() []mounts.Entry {
	table := a.c.Mounts()
	out := make([]mounts.Entry, len(table))
	for i, m := range table {
		sv := a.c.systemView(m.Config)
		l := m.Config.Lockout.WithDefaults()
		out[i] = mounts.Entry{
			Path: m.Path, Type: m.Type, Description: m.Description, UUID: m.UUID, Accessor: m.Accessor,
			DefaultLeaseTTL: m.Config.DefaultLeaseTTL, MaxLeaseTTL: m.Config.MaxLeaseTTL,
			EffectiveDefaultTTL: sv.DefaultLeaseTTL(), EffectiveMaxTTL: sv.MaxLeaseTTL(),
			Options: m.Options, Local: m.Local, SealWrap: m.SealWrap,
			Lockout:                  mounts.Lockout{Threshold: l.Threshold, Duration: l.Duration, CounterReset: l.CounterReset, Disable: l.Disable},
			AuditNonHMACRequestKeys:  slices.Clone(m.Config.AuditNonHMACRequestKeys),
			AuditNonHMACResponseKeys: slices.Clone(m.Config.AuditNonHMACResponseKeys),
		}
	}
	return out
}

func (a mountsCore) Mount(ctx context.Context, in mounts.Input) error {
	return a.c.Mount(ctx, MountInput{
		Auth: in.Auth, Path: in.Path, Type: in.Type, Description: in.Description,
		Config: MountConfig{DefaultLeaseTTL: in.DefaultLeaseTTL, MaxLeaseTTL: in.MaxLeaseTTL,
			AuditNonHMACRequestKeys: in.AuditNonHMACRequestKeys, AuditNonHMACResponseKeys: in.AuditNonHMACResponseKeys},
		Options: in.Options, Local: in.Local, SealWrap: in.SealWrap,
	})
}

func (a mountsCore) Unmount(ctx context.Context, auth bool, path string) error {
	return a.c.Unmount(ctx, auth, path)
}

func (a mountsCore) Tune(ctx context.Context, auth bool, path string, in mounts.Tune) error {
	t := TuneInput{DefaultLeaseTTL: in.DefaultLeaseTTL, MaxLeaseTTL: in.MaxLeaseTTL, Description: in.Description, Options: in.Options,
		AuditNonHMACRequestKeys: in.AuditNonHMACRequestKeys, AuditNonHMACResponseKeys: in.AuditNonHMACResponseKeys}
	if l := in.Lockout; l != nil {
		t.Lockout = &LockoutConfig{Threshold: l.Threshold, Duration: l.Duration, CounterReset: l.CounterReset, Disable: l.Disable}
	}
	return a.c.Tune(ctx, auth, path, t)
}

func (a mountsCore) Remount(ctx context.Context, from, to string) error {
	return a.c.Remount(ctx, from, to)
}

func (a mountsCore) Route(path string) (string, bool) {
	route, _, ok := a.c.router.Match(path)
	if !ok {
		return "", false
	}
	return route.Path, true
}

func (a mountsCore) ClusterID() string { return a.c.ClusterID() }

func (a mountsCore) RotateKey(ctx context.Context) (uint32, error) {
	info, err := a.c.barrier.Rotate(ctx)
	if err != nil {
		return 0, err
	}
	return info.Term, nil
}

func (a mountsCore) KeyStatus() (mounts.KeyStatus, error) {
	info, err := a.c.barrier.KeyInfo()
	if err != nil {
		return mounts.KeyStatus{}, err
	}
	return mounts.KeyStatus{Term: info.Term, InstallTime: info.InstallTime, Encryptions: info.Encryptions}, nil
}

// policiesCore is the token store, identity and lockouts as
// [policies.Core].
type policiesCore struct{ c *Core }

// policiesOf returns the policies of e with those of its identity; an
// identity that cannot be read adds none.
func (a policiesCore) policiesOf(ctx context.Context, e *token.Entry) []string {
	names := e.Policies
	if e.EntityID != "" && a.c.identity != nil {
		if ip, err := a.c.identity.Policies(ctx, e.EntityID); err == nil {
			names = append(slices.Clone(names), ip...)
		}
	}
	return names
}

func (a policiesCore) TokenPolicies(ctx context.Context, id string) ([]string, string, error) {
	e, _, err := a.c.lookupToken(ctx, id, "invalid token")
	if err != nil {
		return nil, "", err
	}
	return a.policiesOf(ctx, e), e.EntityID, nil
}

func (a policiesCore) AccessorPolicies(ctx context.Context, accessor string) ([]string, string, error) {
	e, _, err := a.c.lookupAccessor(ctx, accessor)
	if err != nil {
		return nil, "", err
	}
	return a.policiesOf(ctx, e), e.EntityID, nil
}

func (a policiesCore) CallerPolicies(ctx context.Context) ([]string, string, error) {
	cl := callerFrom(ctx)
	if cl == nil {
		return nil, "", logical.PermissionDenied()
	}
	return a.policiesOf(ctx, cl.entry), cl.entry.EntityID, nil
}

func (a policiesCore) Entities() policies.Entities { return a.c.entities() }

func (a policiesCore) LockedUsers() map[string][]string { return a.c.lockouts.LockedNames(a.c.now()) }

func (a policiesCore) Unlock(accessor, alias string) {
	a.c.lockouts.Unlock(lockout.Key{Accessor: accessor, Name: alias})
}

// leasesCore is the caller and the token store as [leases.Core].
type leasesCore struct{ c *Core }

func (a leasesCore) CallerExpiry(ctx context.Context) time.Time {
	if cl := callerFrom(ctx); cl != nil && !cl.entry.IsRoot() {
		return cl.entry.ExpireTime()
	}
	return time.Time{}
}

func (a leasesCore) RevokeTokensByPath(ctx context.Context, prefix string) error {
	return a.c.tokens.RevokeByPathPrefix(ctx, prefix, a.c.now())
}

// pluginCatalog lists the built-in engines, auth methods and database
// plugins the server handed core, for sys/plugins/catalog.
func (c *Core) pluginCatalog() *plugins.Catalog {
	return &plugins.Catalog{
		Auth: slices.Collect(maps.Keys(c.opts.AuthMethods)),
		// cubbyhole is core's own mount, not something to enable.
		Secret:   slices.DeleteFunc(slices.Collect(maps.Keys(c.opts.Engines)), func(n string) bool { return n == "cubbyhole" }),
		Database: c.opts.DatabasePlugins,
		Version:  c.opts.Version,
	}
}

// searchCore is the router's secret-walking mounts as [search.Core].
type searchCore struct{ c *Core }

func (a searchCore) SecretMounts() []search.Mount {
	var out []search.Mount
	for _, r := range a.c.router.Routes() {
		if w, ok := r.Backend.(logical.SecretWalker); ok {
			out = append(out, search.Mount{Path: r.Path, Walker: w})
		}
	}
	return out
}
