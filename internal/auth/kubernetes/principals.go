package kubernetes

import (
	"context"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Principals implements [logical.PrincipalLister]: one principal a role,
// with its bound service account names and namespaces, audience and alias
// name source. A role bound to "*" for both names and namespaces (which
// role writes refuse, but older data may hold) is Unbound: any service
// account of the cluster logs in as it. The reviewer JWT is never
// returned.
func (b *backend) Principals(ctx context.Context) ([]logical.Principal, error) {
	var out []logical.Principal
	err := b.roles.Each(ctx, func(name string, r *role) error {
		p := r.Token.Principal("role", name)
		p.Bindings["bound_service_account_names"] = slices.Clone(r.BoundNames)
		p.Bindings["bound_service_account_namespaces"] = slices.Clone(r.BoundNamespaces)
		p.Bindings["alias_name_source"] = r.AliasNameSource
		if r.Audience != "" {
			p.Bindings["audience"] = r.Audience
		}
		p.Unbound = slices.Contains(r.BoundNames, "*") && slices.Contains(r.BoundNamespaces, "*")
		out = append(out, p)
		return nil
	})
	return out, err
}
