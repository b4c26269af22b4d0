package core

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/identity"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/mount"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/sys/tokenapi"
)

// AccessDirectory returns everything that can hold policies, for the
// sys/access answers: the principals of every auth mount whose method
// lists them (the token store's roles at auth/token/ included), sorted
// by path; the identity entities and groups, with nested membership
// expanded; and the live tokens. It holds no token ID nor any other
// credential. A standby answers from its own view, which follows the
// active node's changes as it is told of them. The first call after an
// unseal builds the live-token index (about a second of CPU for 100,000
// tokens) while holding the state lock for reading, so a seal waits for
// it. The principals carry their credential counts (see
// [logical.PrincipalCounter]).
func (c *Core) AccessDirectory(ctx context.Context) (*access.Directory, error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	return c.accessDirectoryLocked(ctx, true)
}

// accessDirectoryLocked is AccessDirectory for a caller that holds
// stateMu (the sys/access endpoints run inside HandleRequest, which does:
// taking the read lock twice could deadlock behind a waiting writer).
// counts asks the methods that can count their principals' credentials
// to do so, which may read every credential's entry.
func (c *Core) accessDirectoryLocked(ctx context.Context, counts bool) (*access.Directory, error) {
	if c.Sealed() {
		return nil, ErrSealed
	}
	routes := c.router.Routes()
	slices.SortFunc(routes, func(a, b *router.Route) int { return strings.Compare(a.Path, b.Path) })
	d := &access.Directory{}
	for _, r := range routes {
		if !strings.HasPrefix(r.Path, mount.AuthPrefix) {
			continue
		}
		var ps []logical.Principal
		var err error
		if r.Backend == logical.Backend(c.tokenAPI) {
			ps, err = tokenapi.RolePrincipals(ctx, router.NewView(c.barrier, tokenRolePrefix))
		} else if pl, ok := r.Backend.(logical.PrincipalLister); ok {
			ps, err = pl.Principals(ctx)
			if pc, ok := r.Backend.(logical.PrincipalCounter); ok && counts && err == nil {
				err = pc.CountPrincipals(ctx, ps)
			}
		} else {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list the principals of %s: %w", r.Path, err)
		}
		d.Mounts = append(d.Mounts, access.AuthMount{Path: r.Path, Type: r.Type, Accessor: r.Accessor, Principals: ps})
	}
	if c.identity != nil {
		d.Entities, d.Groups = directoryIdentity(c.identity.Snapshot())
	}
	live, err := c.tokens.LiveTokens(ctx, c.now())
	if err != nil {
		return nil, fmt.Errorf("list live tokens: %w", err)
	}
	d.Tokens = live
	return d, nil
}

// directoryIdentity converts an identity snapshot to the directory's
// types (the identity store is built like an engine and does not import
// package access).
func directoryIdentity(s identity.Snapshot) ([]access.Entity, []access.Group) {
	entities := make([]access.Entity, 0, len(s.Entities))
	for _, e := range s.Entities {
		ae := access.Entity{
			ID: e.ID, Name: e.Name, Disabled: e.Disabled, Policies: e.Policies, Metadata: e.Metadata,
			GroupIDs: e.GroupIDs, IdentityPolicies: e.IdentityPolicies,
		}
		for _, a := range e.Aliases {
			ae.Aliases = append(ae.Aliases, access.Alias{
				ID: a.ID, Name: a.Name, MountAccessor: a.MountAccessor, MountPath: a.MountPath,
				Metadata: a.Metadata, CustomMetadata: a.CustomMetadata,
			})
		}
		entities = append(entities, ae)
	}
	groups := make([]access.Group, 0, len(s.Groups))
	for _, g := range s.Groups {
		groups = append(groups, access.Group{
			ID: g.ID, Name: g.Name, Type: g.Type, Policies: g.Policies, MemberEntityIDs: g.MemberEntityIDs,
			ParentGroupIDs: g.ParentGroupIDs, AliasName: g.AliasName, AliasMountAccessor: g.AliasMountAccessor, Metadata: g.Metadata,
		})
	}
	return entities, groups
}
