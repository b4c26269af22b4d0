package identity

import (
	"context"
	"slices"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// The group types. Internal groups have their members set through the
// API; external groups take theirs from logins, through group aliases
// (see [Store.LoginGroups]).
const (
	typeInternal = "internal"
	typeExternal = "external"
)

// groupInput is the body of a group write. Absent fields leave the group's
// value unchanged on update.
type groupInput struct {
	ref
	Type            *string                 `json:"type"`
	Metadata        *KVPairs                `json:"metadata"`
	Policies        *framework.CommaStrings `json:"policies"`
	MemberEntityIDs *framework.CommaStrings `json:"member_entity_ids"`
	MemberGroupIDs  *framework.CommaStrings `json:"member_group_ids"`
}

// groupFields is a validated groupInput; nil pointers mean "unchanged".
type groupFields struct {
	name           *string
	typ            *string
	metadata       *map[string]string
	policies       *[]string
	memberEntities *[]string
	memberGroups   *[]string
}

func (in *groupInput) validate() (*groupFields, error) {
	if in.Type != nil {
		switch *in.Type {
		case "", typeInternal, typeExternal:
		default:
			return nil, logical.InvalidRequest("invalid group type %q: want %q or %q", *in.Type, typeInternal, typeExternal)
		}
	}
	f := &groupFields{name: in.Name}
	if in.Type != nil && *in.Type != "" {
		f.typ = in.Type
	}
	if in.Name != nil {
		if err := checkName("group", *in.Name); err != nil {
			return nil, err
		}
	}
	if in.Metadata != nil {
		md, err := metadataOf("metadata", *in.Metadata)
		if err != nil {
			return nil, err
		}
		f.metadata = &md
	}
	if in.Policies != nil {
		p, err := normalizePolicies(*in.Policies)
		if err != nil {
			return nil, err
		}
		f.policies = &p
	}
	if in.MemberEntityIDs != nil {
		ids, err := normalizeIDs("member_entity_ids", *in.MemberEntityIDs)
		if err != nil {
			return nil, err
		}
		f.memberEntities = &ids
	}
	if in.MemberGroupIDs != nil {
		ids, err := normalizeIDs("member_group_ids", *in.MemberGroupIDs)
		if err != nil {
			return nil, err
		}
		f.memberGroups = &ids
	}
	return f, nil
}

// groupKind is the group side of the API that entities and groups share.
func (s *Store) groupKind() *kind[group, groupInput, *groupFields] {
	return &kind[group, groupInput, *groupFields]{
		noun: "group", plural: "groups", article: "a group",
		writeSynopsis: "Create an internal or external group, or update one named by id or name.",
		ref:           func(in *groupInput) *ref { return &in.ref },
		validate:      (*groupInput).validate,
		records:       func() map[string]*group { return s.st.groups },
		byName:        func() map[string]string { return s.st.groupByName },
		upsert:        s.upsertGroupLocked,
		remove:        s.deleteGroupLocked,
		response:      s.groupResponse,
		listIDs:       s.listGroupIDs,
		aliasOwner:    ownerIn(func() map[string]*groupAlias { return s.st.groupAliases }),
		aliasByKey:    func() map[string]string { return s.st.groupAliasByKey },
	}
}

// upsertGroupLocked applies f to old, or to a new group when old is nil,
// checks names and members and stores the result. s.writeMu must be held.
func (s *Store) upsertGroupLocked(ctx context.Context, old *group, f *groupFields) (*logical.Response, error) {
	now := s.now()
	var g *group
	if old == nil {
		id, name := s.newGroupIDLocked()
		g = &group{ID: id, Name: name, Type: typeInternal, CreationTime: now}
		if f.typ != nil {
			g.Type = *f.typ
		}
	} else {
		g = old.clone()
		if f.typ != nil && *f.typ != g.Type {
			return nil, logical.InvalidRequest("a group's type cannot be changed")
		}
	}
	if g.Type == typeExternal {
		if f.memberEntities != nil && len(*f.memberEntities) > 0 {
			return nil, logical.InvalidRequest("member_entity_ids cannot be set on an external group: its members come from logins")
		}
		if f.memberGroups != nil && len(*f.memberGroups) > 0 {
			return nil, logical.InvalidRequest("member_group_ids cannot be set on an external group")
		}
	}
	if f.name != nil {
		if other := s.st.groupByName[*f.name]; other != "" && other != g.ID {
			return nil, logical.InvalidRequest("group name %q is already in use", *f.name)
		}
		g.Name = *f.name
	}
	if f.metadata != nil {
		g.Metadata = *f.metadata
	}
	if f.policies != nil {
		g.Policies = *f.policies
	}
	if f.memberEntities != nil {
		for _, id := range *f.memberEntities {
			if s.st.entities[id] == nil {
				return nil, logical.InvalidRequest("member_entity_ids: no entity with ID %q", id)
			}
		}
		g.MemberEntityIDs = *f.memberEntities
	}
	if f.memberGroups != nil {
		for _, id := range *f.memberGroups {
			if id == g.ID {
				return nil, logical.InvalidRequest("member_group_ids: a group cannot be a member of itself")
			}
			if s.st.groups[id] == nil {
				return nil, logical.InvalidRequest("member_group_ids: no group with ID %q", id)
			}
			if s.containsLocked(id, g.ID) {
				return nil, logical.InvalidRequest("member_group_ids: group %q already contains this group, so adding it would make a cycle", id)
			}
		}
		g.MemberGroupIDs = *f.memberGroups
	}
	g.LastUpdateTime = now
	g.ModifyIndex++
	if err := s.commitLocked(ctx, &change{groups: []*group{g}}); err != nil {
		return nil, err
	}
	return &logical.Response{Data: &writeData{ID: g.ID, Name: g.Name}}, nil
}

// containsLocked reports whether group outer has inner among its members,
// directly or through member groups. s.mu or s.writeMu must be held.
func (s *Store) containsLocked(outer, inner string) bool {
	seen := set{outer: {}}
	stack := []string{outer}
	for len(stack) > 0 {
		g := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if g == inner {
			return true
		}
		for _, m := range s.st.groups[g].MemberGroupIDs {
			if _, ok := seen[m]; !ok && s.st.groups[m] != nil {
				seen[m] = struct{}{}
				stack = append(stack, m)
			}
		}
	}
	return false
}

// groupData is the API's view of a group.
type groupData struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Type            string            `json:"type"`
	Metadata        map[string]string `json:"metadata"`
	Policies        []string          `json:"policies"`
	MemberEntityIDs []string          `json:"member_entity_ids"`
	MemberGroupIDs  []string          `json:"member_group_ids"`
	ParentGroupIDs  []string          `json:"parent_group_ids"`
	Alias           any               `json:"alias"` // *groupAliasData, or an empty object

	ModifyIndex    uint64    `json:"modify_index"`
	NamespaceID    string    `json:"namespace_id"`
	CreationTime   time.Time `json:"creation_time"`
	LastUpdateTime time.Time `json:"last_update_time"`
}

// groupResponse answers a read of group id; nil means not found.
func (s *Store) groupResponse(id string) *logical.Response {
	s.mu.RLock()
	g := s.st.groups[id]
	if g == nil {
		s.mu.RUnlock()
		return nil
	}
	d := &groupData{
		ID:              g.ID,
		Name:            g.Name,
		Type:            g.Type,
		Metadata:        g.Metadata,
		Policies:        nonNil(g.Policies),
		MemberEntityIDs: nonNil(g.MemberEntityIDs),
		MemberGroupIDs:  nonNil(g.MemberGroupIDs),
		ParentGroupIDs:  nonNil(sortedKeys(s.st.groupParents[id])),
		Alias:           struct{}{},
		ModifyIndex:     g.ModifyIndex,
		CreationTime:    g.CreationTime,
		LastUpdateTime:  g.LastUpdateTime,
	}
	if g.Type == typeExternal {
		d.MemberEntityIDs = sortedKeys(s.st.externalMembers[id])
	}
	a := s.st.groupAliases[s.st.groupAliasOf[id]]
	s.mu.RUnlock()
	if a != nil {
		d.Alias = s.renderGroupAlias(a) // calls the mount lookup: not under the lock
	}
	return &logical.Response{Data: d}
}

// deleteGroupLocked deletes group id with its alias, takes it out of the
// groups that list it as a member and forgets the memberships logins
// gained in it, in one transaction. A missing group is not an error.
// s.writeMu must be held.
func (s *Store) deleteGroupLocked(ctx context.Context, id string) error {
	if s.st.groups[id] == nil {
		return nil
	}
	ch := &change{delGroups: []string{id}}
	now := s.now()
	for _, pid := range sortedKeys(s.st.groupParents[id]) {
		p := s.st.groups[pid].clone()
		p.MemberGroupIDs = slices.DeleteFunc(p.MemberGroupIDs, func(m string) bool { return m == id })
		p.LastUpdateTime = now
		p.ModifyIndex++
		ch.groups = append(ch.groups, p)
	}
	if aid := s.st.groupAliasOf[id]; aid != "" {
		ch.delGroupAliases = []string{aid}
	}
	s.dropMembershipsLocked(ch, sortedKeys(s.st.externalMembers[id]), func(_, g string) bool { return g == id })
	return s.commitLocked(ctx, ch)
}

// groupKeyInfo is what a list of groups by ID tells about each.
type groupKeyInfo struct {
	Name              string `json:"name"`
	NumMemberEntities int    `json:"num_member_entities"`
	NumParentGroups   int    `json:"num_parent_groups"`
}

func (s *Store) listGroupIDs(_ context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	infos := make(map[string]*groupKeyInfo, len(s.st.groups))
	for id, g := range s.st.groups {
		infos[id] = &groupKeyInfo{
			Name:              g.Name,
			NumMemberEntities: len(g.MemberEntityIDs) + len(s.st.externalMembers[id]),
			NumParentGroups:   len(s.st.groupParents[id]),
		}
	}
	return listResponse(infos), nil
}
