package tokenapi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// RolePrincipals lists the token roles kept in roles (the storage
// [Options.Roles] names) as principals of auth/token/, for the access
// directory: one "role" a token role. Its Policies are the role's
// allowed_policies, plus "default" unless the role leaves it off; a role
// with no allowed_policies lets its tokens carry any policy of the token
// that creates them, which Bindings["allowed_policies"] = [] says. The
// bindings hold the creation rules (disallowed policies, orphan, period,
// renewable, path suffix, allowed entity aliases and the token limits).
// Token roles are not logins, so none is Unbound.
func RolePrincipals(ctx context.Context, roles logical.Storage) ([]logical.Principal, error) {
	names, err := roles.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list token roles: %w", err)
	}
	out := make([]logical.Principal, 0, len(names))
	for _, name := range names {
		if strings.HasSuffix(name, "/") || validRoleName(name) != nil {
			continue
		}
		e, err := roles.Get(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("read token role: %w", err)
		}
		if e == nil {
			continue // deleted since the list
		}
		var r role
		if err := json.Unmarshal(e.Value, &r); err != nil {
			return nil, fmt.Errorf("decode token role: %w", err)
		}
		params := r.Params
		params.Policies = framework.CommaStrings(r.AllowedPolicies)
		p := params.Principal("role", name)
		p.Bindings["allowed_policies"] = nonNil(slices.Clone(r.AllowedPolicies))
		if len(r.DisallowedPolicies) > 0 {
			p.Bindings["disallowed_policies"] = slices.Clone(r.DisallowedPolicies)
		}
		if len(r.AllowedEntityAliases) > 0 {
			p.Bindings["allowed_entity_aliases"] = slices.Clone(r.AllowedEntityAliases)
		}
		p.Bindings["orphan"] = r.Orphan
		p.Bindings["renewable"] = r.Renewable
		if r.PathSuffix != "" {
			p.Bindings["path_suffix"] = r.PathSuffix
		}
		if r.Params.Period > 0 {
			p.Bindings["period"] = framework.Seconds(time.Duration(r.Params.Period))
		}
		out = append(out, p)
	}
	return out, nil
}
