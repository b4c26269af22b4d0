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

// Directory runs inside HandleRequest, which holds stateMu for reading.
func (a accessCore) Directory(ctx context.Context, counts bool) (*access.Directory, error) {
	return a.c.accessDirectoryLocked(ctx, counts)
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
