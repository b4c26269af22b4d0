package identity

import "maps"

// Version is a number that changes whenever an identity record changes
// (an entity, alias, group, group alias or external membership) or the
// store reloads. Core keys its cache of templated ACLs with it, so that a
// change is seen by the next request.
func (s *Store) Version() uint64 { return s.version.Load() }

// TemplateEntity is what templated ACL policies read of an entity.
type TemplateEntity struct {
	ID       string
	Name     string
	Metadata map[string]string
	Aliases  []TemplateAlias
	// Groups are every group the entity belongs to, directly or through
	// nested groups, internal or external, sorted by ID.
	Groups []TemplateGroup
}

// TemplateAlias is an alias of a [TemplateEntity].
type TemplateAlias struct {
	ID             string
	Name           string
	MountAccessor  string
	Metadata       map[string]string
	CustomMetadata map[string]string
}

// TemplateGroup is a group of a [TemplateEntity].
type TemplateGroup struct {
	ID       string
	Name     string
	Metadata map[string]string
}

// TemplateEntity returns what templated ACL policies read of entity id,
// and the [Store.Version] it was read at; nil for an unknown entity. The
// groups are counted as [Store.Policies] counts them. The result is the
// caller's.
func (s *Store) TemplateEntity(id string) (*TemplateEntity, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := s.version.Load()
	e := s.st.entities[id]
	if e == nil {
		return nil, v
	}
	out := &TemplateEntity{ID: e.ID, Name: e.Name, Metadata: maps.Clone(e.Metadata)}
	for _, aid := range sortedKeys(s.st.entityAlias[id]) {
		a := s.st.aliases[aid]
		if a == nil {
			continue
		}
		out.Aliases = append(out.Aliases, TemplateAlias{
			ID:             a.ID,
			Name:           a.Name,
			MountAccessor:  a.MountAccessor,
			Metadata:       maps.Clone(a.Metadata),
			CustomMetadata: maps.Clone(a.CustomMetadata),
		})
	}
	for _, gid := range sortedKeys(s.ancestorsLocked(s.directGroupsLocked(id))) {
		g := s.st.groups[gid]
		if g == nil {
			continue
		}
		out.Groups = append(out.Groups, TemplateGroup{ID: g.ID, Name: g.Name, Metadata: maps.Clone(g.Metadata)})
	}
	return out, v
}
