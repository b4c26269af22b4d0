package identity

import (
	"maps"
	"slices"
)

// Snapshot is a consistent copy of every entity and group, for the access
// directory (who holds which policies). Its values are the caller's.
type Snapshot struct {
	// Entities are sorted by ID.
	Entities []EntityInfo
	// Groups are sorted by ID.
	Groups []GroupInfo
}

// EntityInfo is an entity with its aliases and its group membership
// expanded through nested groups.
type EntityInfo struct {
	ID       string
	Name     string
	Disabled bool
	// Policies are the entity's own policies.
	Policies []string
	Metadata map[string]string
	// Aliases are sorted by ID.
	Aliases []AliasInfo
	// GroupIDs are every group the entity is in, directly (internal
	// membership, or an external group its logins put it in) or through
	// nested groups, sorted.
	GroupIDs []string
	// IdentityPolicies are the entity's own policies and those of every
	// group in GroupIDs, sorted and without duplicates: what
	// [Store.Policies] returns for an enabled entity.
	IdentityPolicies []string
}

// AliasInfo is an entity alias; MountPath is "" when its mount is gone.
type AliasInfo struct {
	ID            string
	Name          string
	MountAccessor string
	MountPath     string
	Metadata      map[string]string
	// CustomMetadata is the alias's custom metadata.
	CustomMetadata map[string]string
}

// GroupInfo is a group. For an external group MemberEntityIDs are the
// entities its alias put in it at their last login.
type GroupInfo struct {
	ID              string
	Name            string
	Type            string
	Policies        []string
	Metadata        map[string]string
	MemberEntityIDs []string
	// ParentGroupIDs are the groups listing this one as a member group.
	ParentGroupIDs []string
	// AliasName and AliasMountAccessor are an external group's alias.
	AliasName          string
	AliasMountAccessor string
}

// Snapshot returns every entity and group as of one instant. It holds the
// read lock while it copies, then names alias mounts without it.
func (s *Store) Snapshot() Snapshot {
	s.mu.RLock()
	out := Snapshot{
		Entities: make([]EntityInfo, 0, len(s.st.entities)),
		Groups:   make([]GroupInfo, 0, len(s.st.groups)),
	}
	for _, id := range slices.Sorted(maps.Keys(s.st.entities)) {
		e := s.st.entities[id]
		info := EntityInfo{
			ID: e.ID, Name: e.Name, Disabled: e.Disabled,
			Policies:         nonNil(slices.Clone(e.Policies)),
			Metadata:         maps.Clone(e.Metadata),
			GroupIDs:         sortedKeys(s.ancestorsLocked(s.directGroupsLocked(id))),
			IdentityPolicies: nonNil(s.policiesLocked(e)),
		}
		for _, aid := range sortedKeys(s.st.entityAlias[id]) {
			a := s.st.aliases[aid]
			info.Aliases = append(info.Aliases, AliasInfo{
				ID: a.ID, Name: a.Name, MountAccessor: a.MountAccessor,
				Metadata: maps.Clone(a.Metadata), CustomMetadata: maps.Clone(a.CustomMetadata),
			})
		}
		out.Entities = append(out.Entities, info)
	}
	for _, id := range slices.Sorted(maps.Keys(s.st.groups)) {
		g := s.st.groups[id]
		members := make(set, len(g.MemberEntityIDs))
		for _, m := range g.MemberEntityIDs {
			members[m] = struct{}{}
		}
		for m := range s.st.externalMembers[id] {
			members[m] = struct{}{}
		}
		info := GroupInfo{
			ID: g.ID, Name: g.Name, Type: g.Type,
			Policies:        nonNil(slices.Clone(g.Policies)),
			Metadata:        maps.Clone(g.Metadata),
			MemberEntityIDs: sortedKeys(members),
			ParentGroupIDs:  sortedKeys(s.st.groupParents[id]),
		}
		if ga := s.st.groupAliases[s.st.groupAliasOf[id]]; ga != nil {
			info.AliasName, info.AliasMountAccessor = ga.Name, ga.MountAccessor
		}
		out.Groups = append(out.Groups, info)
	}
	s.mu.RUnlock()
	paths := map[string]string{}
	for i := range out.Entities {
		for j := range out.Entities[i].Aliases {
			a := &out.Entities[i].Aliases[j]
			p, ok := paths[a.MountAccessor]
			if !ok {
				p, _, _ = s.mounts(a.MountAccessor)
				paths[a.MountAccessor] = p
			}
			a.MountPath = p
		}
	}
	return out
}
