package approle

import (
	"context"
	"fmt"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Principals implements [logical.PrincipalLister]: one principal a role,
// with its bindings (bind_secret_id, the CIDR bounds, the secret ID
// limits). A role that does not bind a secret ID is Unbound: its role ID
// (an identifier, not a secret) and a source address are all a login
// needs. No role ID, secret ID or secret ID accessor is returned.
func (b *backend) Principals(ctx context.Context) ([]logical.Principal, error) {
	var out []logical.Principal
	err := b.roles.Each(ctx, func(name string, r *role) error {
		p := r.Token.Principal("role", name)
		p.Bindings["bind_secret_id"] = r.BindSecretID
		if len(r.SecretIDBoundCIDRs) > 0 {
			p.Bindings["secret_id_bound_cidrs"] = slices.Clone(r.SecretIDBoundCIDRs)
		}
		if r.SecretIDNumUses > 0 {
			p.Bindings["secret_id_num_uses"] = r.SecretIDNumUses
		}
		if r.SecretIDTTL > 0 {
			p.Bindings["secret_id_ttl"] = int64(r.SecretIDTTL.Seconds())
		}
		p.Unbound = !r.BindSecretID
		out = append(out, p)
		return nil
	})
	return out, err
}

// CountPrincipals implements [logical.PrincipalCounter]: Counts tell how
// many secret IDs each role has ("secret_ids"; when the role sets a TTL or
// a use limit, expired ones count until tidied) and how many of them have
// neither a TTL nor a use limit ("secret_ids_unlimited").
func (b *backend) CountPrincipals(ctx context.Context, ps []logical.Principal) error {
	key, err := b.key(ctx)
	if err != nil {
		return err
	}
	for i := range ps {
		r, err := b.roles.Get(ctx, ps[i].Name)
		if err != nil {
			return err
		}
		if r == nil {
			continue // deleted since the list
		}
		total, unlimited, err := b.countSecretIDs(ctx, roleKey(key, ps[i].Name), r)
		if err != nil {
			return err
		}
		ps[i].Counts = map[string]int{"secret_ids": total, "secret_ids_unlimited": unlimited}
	}
	return nil
}

// countSecretIDs counts the secret IDs of role r (key rk) and those
// with neither a TTL nor a use limit. A secret ID may only be stricter
// than its role, so when the role sets either limit none is unlimited and
// the entries need not be read.
func (b *backend) countSecretIDs(ctx context.Context, rk string, r *role) (total, unlimited int, err error) {
	sids, err := b.storage.List(ctx, secretIDPrefix+rk+"/")
	if err != nil {
		return 0, 0, fmt.Errorf("list secret IDs: %w", err)
	}
	if r.SecretIDNumUses > 0 || r.SecretIDTTL > 0 {
		return len(sids), 0, nil
	}
	now := b.clock.Now()
	for _, sidMAC := range sids {
		e, err := b.loadSecretID(ctx, rk, sidMAC)
		if err != nil {
			return 0, 0, err
		}
		if e == nil || e.expired(now) {
			continue
		}
		total++
		if e.NumUses == 0 && e.TTL == 0 {
			unlimited++
		}
	}
	return total, unlimited, nil
}
