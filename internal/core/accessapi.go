package core

import (
	"context"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/sys/accessapi"
)

// accessCore is the policy store, the principals and the secret mounts
// as [accessapi.Core].
type accessCore struct{ c *Core }

func (a accessCore) Policies() []*policy.Policy {
	names := a.c.policies.Names()
	out := make([]*policy.Policy, 0, len(names))
	for _, n := range names {
		if p, ok := a.c.policies.Policy(n); ok {
			out = append(out, p)
		}
	}
	return out
}

// directoryBuilder is core's AccessDirectory, asserted so that this file
// does not depend on the order in which the pieces of issue 14 land.
type directoryBuilder interface {
	AccessDirectory(ctx context.Context) (*access.Directory, error)
}

func (a accessCore) Directory(ctx context.Context) (*access.Directory, error) {
	if b, ok := any(a.c).(directoryBuilder); ok {
		return b.AccessDirectory(ctx)
	}
	return &access.Directory{}, nil
}

func (a accessCore) SecretMounts() []accessapi.Mount {
	var out []accessapi.Mount
	for _, r := range a.c.router.Routes() {
		if strings.HasPrefix(r.Path, "auth/") || strings.HasPrefix(r.Path, "sys/") {
			continue
		}
		switch r.Type {
		case "cubbyhole", "identity", "system", "token":
			continue
		}
		out = append(out, accessapi.Mount{Path: r.Path, Type: r.Type, Backend: r.Backend})
	}
	slices.SortFunc(out, func(p, q accessapi.Mount) int { return strings.Compare(p.Path, q.Path) })
	return out
}
