package identity

import (
	"context"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Path captures: an ID is one segment; a name may hold anything, slashes
// included.
const (
	idCapture   = `(?P<id>[^/]+)`
	nameCapture = `(?P<name>.+)`
)

// pathTable returns the identity/ API, paths relative to the mount.
func (s *Store) pathTable() *framework.Backend {
	r, u, d, l := logical.ReadOperation, logical.UpdateOperation, logical.DeleteOperation, logical.ListOperation
	ek, gk := s.entityKind(), s.groupKind()
	return &framework.Backend{Paths: slices.Concat(ek.paths(s, "entity"), []*framework.Path{
		{
			Pattern:    `entity-alias`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(s.writeAlias)},
			Synopsis:   "Create an entity alias, or update one named by id.",
		},
		{
			Pattern:    `entity-alias/id/?`,
			Operations: map[logical.Operation]framework.Handler{l: s.listAliases},
			Synopsis:   "List entity aliases by ID.",
		},
		{
			Pattern: `entity-alias/id/` + idCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: s.readAlias, u: framework.Typed(s.updateAliasByID), d: s.deleteAlias,
			},
			ExistenceCheck: s.exists(func(m *framework.Match) bool { return s.st.aliases[m.Get("id")] != nil }),
			Synopsis:       "Read, update or delete an entity alias by ID.",
		},
	}, gk.paths(s, "group"), []*framework.Path{
		{
			Pattern:    `group-alias`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(s.writeGroupAlias)},
			Synopsis:   "Create a group alias for an external group, or update one named by id.",
		},
		{
			Pattern:    `group-alias/id/?`,
			Operations: map[logical.Operation]framework.Handler{l: s.listGroupAliases},
			Synopsis:   "List group aliases by ID.",
		},
		{
			Pattern: `group-alias/id/` + idCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: s.readGroupAlias, u: framework.Typed(s.updateGroupAliasByID), d: s.deleteGroupAlias,
			},
			ExistenceCheck: s.exists(func(m *framework.Match) bool { return s.st.groupAliases[m.Get("id")] != nil }),
			Synopsis:       "Read, update or delete a group alias by ID.",
		},
		{
			Pattern:    `lookup/entity`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(ek.lookup(s))},
			Synopsis:   "Find an entity by name, ID, alias ID, or alias name and mount accessor.",
		},
		{
			Pattern:    `lookup/group`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(gk.lookup(s))},
			Synopsis:   "Find a group by name, ID, alias ID, or alias name and mount accessor.",
		},
	})}
}

// exists returns an existence check that calls find under s.mu.
func (s *Store) exists(find func(m *framework.Match) bool) func(context.Context, *logical.Request, *framework.Match) (bool, error) {
	return func(_ context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return find(m), nil
	}
}
