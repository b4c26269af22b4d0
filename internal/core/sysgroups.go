package core

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/sys/mounts"
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
		sv := mountSystemView{c: a.c, m: m.Config}
		l := m.Config.Lockout.withDefaults()
		out[i] = mounts.Entry{
			Path: m.Path, Type: m.Type, Description: m.Description, UUID: m.UUID, Accessor: m.Accessor,
			DefaultLeaseTTL: m.Config.DefaultLeaseTTL, MaxLeaseTTL: m.Config.MaxLeaseTTL,
			EffectiveDefaultTTL: sv.DefaultLeaseTTL(), EffectiveMaxTTL: sv.MaxLeaseTTL(),
			Options: m.Options, Local: m.Local, SealWrap: m.SealWrap,
			Lockout: mounts.Lockout{Threshold: l.Threshold, Duration: l.Duration, CounterReset: l.CounterReset, Disable: l.Disable},
		}
	}
	return out
}

func (a mountsCore) Mount(ctx context.Context, in mounts.Input) error {
	return a.c.Mount(ctx, MountInput{
		Auth: in.Auth, Path: in.Path, Type: in.Type, Description: in.Description,
		Config:  MountConfig{DefaultLeaseTTL: in.DefaultLeaseTTL, MaxLeaseTTL: in.MaxLeaseTTL},
		Options: in.Options, Local: in.Local, SealWrap: in.SealWrap,
	})
}

func (a mountsCore) Unmount(ctx context.Context, auth bool, path string) error {
	return a.c.Unmount(ctx, auth, path)
}

func (a mountsCore) Tune(ctx context.Context, auth bool, path string, in mounts.Tune) error {
	t := TuneInput{DefaultLeaseTTL: in.DefaultLeaseTTL, MaxLeaseTTL: in.MaxLeaseTTL, Description: in.Description, Options: in.Options}
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
