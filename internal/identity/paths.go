package identity

import (
	"context"

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
	exists := func(find func(m *framework.Match) bool) func(context.Context, *logical.Request, *framework.Match) (bool, error) {
		return func(_ context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return find(m), nil
		}
	}
	return &framework.Backend{Paths: []*framework.Path{
		{
			Pattern:    `entity`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(s.writeEntity)},
			Synopsis:   "Create an entity, or update one named by id or name.",
		},
		{
			Pattern:    `entity/id/?`,
			Operations: map[logical.Operation]framework.Handler{l: s.listEntityIDs},
			Synopsis:   "List entities by ID.",
		},
		{
			Pattern: `entity/id/` + idCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: s.readEntityByID, u: framework.Typed(s.updateEntityByID), d: s.deleteEntityByID,
			},
			ExistenceCheck: exists(func(m *framework.Match) bool { return s.st.entities[m.Get("id")] != nil }),
			Synopsis:       "Read, update or delete an entity by ID.",
		},
		{
			Pattern:    `entity/name/?`,
			Operations: map[logical.Operation]framework.Handler{l: s.listEntityNames},
			Synopsis:   "List entities by name.",
		},
		{
			Pattern: `entity/name/` + nameCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: s.readEntityByName, u: framework.Typed(s.writeEntityByName), d: s.deleteEntityByName,
			},
			ExistenceCheck: exists(func(m *framework.Match) bool { return s.st.entityByName[m.Get("name")] != "" }),
			Synopsis:       "Create, read, update or delete an entity by name.",
		},
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
			ExistenceCheck: exists(func(m *framework.Match) bool { return s.st.aliases[m.Get("id")] != nil }),
			Synopsis:       "Read, update or delete an entity alias by ID.",
		},
		{
			Pattern:    `group`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(s.writeGroup)},
			Synopsis:   "Create an internal or external group, or update one named by id or name.",
		},
		{
			Pattern:    `group/id/?`,
			Operations: map[logical.Operation]framework.Handler{l: s.listGroupIDs},
			Synopsis:   "List groups by ID.",
		},
		{
			Pattern: `group/id/` + idCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: s.readGroupByID, u: framework.Typed(s.updateGroupByID), d: s.deleteGroupByID,
			},
			ExistenceCheck: exists(func(m *framework.Match) bool { return s.st.groups[m.Get("id")] != nil }),
			Synopsis:       "Read, update or delete a group by ID.",
		},
		{
			Pattern:    `group/name/?`,
			Operations: map[logical.Operation]framework.Handler{l: s.listGroupNames},
			Synopsis:   "List groups by name.",
		},
		{
			Pattern: `group/name/` + nameCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: s.readGroupByName, u: framework.Typed(s.writeGroupByName), d: s.deleteGroupByName,
			},
			ExistenceCheck: exists(func(m *framework.Match) bool { return s.st.groupByName[m.Get("name")] != "" }),
			Synopsis:       "Create, read, update or delete a group by name.",
		},
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
			ExistenceCheck: exists(func(m *framework.Match) bool { return s.st.groupAliases[m.Get("id")] != nil }),
			Synopsis:       "Read, update or delete a group alias by ID.",
		},
		{
			Pattern:    `lookup/entity`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(s.lookupEntity)},
			Synopsis:   "Find an entity by name, ID, alias ID, or alias name and mount accessor.",
		},
		{
			Pattern:    `lookup/group`,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(s.lookupGroup)},
			Synopsis:   "Find a group by name, ID, alias ID, or alias name and mount accessor.",
		},
	}}
}
