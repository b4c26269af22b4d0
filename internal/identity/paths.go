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
	u := logical.UpdateOperation
	ek, gk := s.entityKind(), s.groupKind()
	aw, gaw := s.aliasWrites(), s.groupAliasWrites()
	return &framework.Backend{Paths: slices.Concat(ek.paths(s, "entity"), aliasPaths(s, aliasAPI{
		base: "entity-alias", noun: "an entity alias", plural: "entity aliases",
		writeSynopsis: "Create an entity alias, or update one named by id.",
		write:         aw.write(s),
		updateByID:    aw.updateByID(s),
		read:          s.readAlias,
		remove:        s.deleteAlias,
		list:          s.listAliases,
		exists:        func(id string) bool { return s.st.aliases[id] != nil },
	}), gk.paths(s, "group"), aliasPaths(s, aliasAPI{
		base: "group-alias", noun: "a group alias", plural: "group aliases",
		writeSynopsis: "Create a group alias for an external group, or update one named by id.",
		write:         gaw.write(s),
		updateByID:    gaw.updateByID(s),
		read:          s.readGroupAlias,
		remove:        s.deleteGroupAlias,
		list:          s.listGroupAliases,
		exists:        func(id string) bool { return s.st.groupAliases[id] != nil },
	}), []*framework.Path{
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

// aliasAPI is one kind of alias's handlers (entity or group aliases), for
// aliasPaths.
type aliasAPI struct {
	base, noun, plural string // "entity-alias", "an entity alias", "entity aliases"
	writeSynopsis      string

	write, updateByID, read, remove, list framework.Handler
	// exists reports whether alias id exists; it runs under s.mu.
	exists func(id string) bool
}

// aliasPaths returns the three paths of one kind of alias under a.base.
func aliasPaths(s *Store, a aliasAPI) []*framework.Path {
	r, u, d, l := logical.ReadOperation, logical.UpdateOperation, logical.DeleteOperation, logical.ListOperation
	return []*framework.Path{
		{
			Pattern:    a.base,
			Operations: map[logical.Operation]framework.Handler{u: a.write},
			Synopsis:   a.writeSynopsis,
		},
		{
			Pattern:    a.base + `/id/?`,
			Operations: map[logical.Operation]framework.Handler{l: a.list},
			Synopsis:   "List " + a.plural + " by ID.",
		},
		{
			Pattern:        a.base + `/id/` + idCapture,
			Operations:     map[logical.Operation]framework.Handler{r: a.read, u: a.updateByID, d: a.remove},
			ExistenceCheck: s.exists(func(m *framework.Match) bool { return a.exists(m.Get("id")) }),
			Synopsis:       "Read, update or delete " + a.noun + " by ID.",
		},
	}
}

// exists returns an existence check that calls find under s.mu.
func (s *Store) exists(find func(m *framework.Match) bool) func(context.Context, *logical.Request, *framework.Match) (bool, error) {
	return func(_ context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return find(m), nil
	}
}
