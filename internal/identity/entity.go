package identity

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// entityInput is the body of an entity write. Absent fields leave the
// entity's value unchanged on update.
type entityInput struct {
	ref
	Metadata *KVPairs                `json:"metadata"`
	Policies *framework.CommaStrings `json:"policies"`
	Disabled *framework.Bool         `json:"disabled"`
}

// entityFields is a validated entityInput; nil pointers mean "unchanged".
type entityFields struct {
	name     *string
	metadata *map[string]string
	policies *[]string
	disabled *bool
}

func (in *entityInput) validate() (*entityFields, error) {
	f := &entityFields{name: in.Name}
	if in.Name != nil {
		if err := checkName("entity", *in.Name); err != nil {
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
	if in.Disabled != nil {
		d := bool(*in.Disabled)
		f.disabled = &d
	}
	return f, nil
}

// writeData answers an entity or group write.
type writeData struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// entityKind is the entity side of the API that entities and groups
// share.
func (s *Store) entityKind() *kind[Entity, entityInput, *entityFields] {
	return &kind[Entity, entityInput, *entityFields]{
		noun: "entity", plural: "entities", article: "an entity",
		writeSynopsis: "Create an entity, or update one named by id or name.",
		ref:           func(in *entityInput) *ref { return &in.ref },
		validate:      (*entityInput).validate,
		records:       func() map[string]*Entity { return s.st.entities },
		byName:        func() map[string]string { return s.st.entityByName },
		upsert:        s.upsertEntityLocked,
		remove:        s.deleteEntityLocked,
		response:      s.entityResponse,
		listIDs:       s.listEntityIDs,
		aliasOwner:    ownerIn(func() map[string]*alias { return s.st.aliases }),
		aliasByKey:    func() map[string]string { return s.st.aliasByKey },
	}
}

// upsertEntityLocked applies f to old, or to a new entity when old is nil,
// and stores the result. s.writeMu must be held.
func (s *Store) upsertEntityLocked(ctx context.Context, old *Entity, f *entityFields) (*logical.Response, error) {
	now := s.now()
	var e *Entity
	if old == nil {
		id, name := s.newEntityIDLocked()
		e = &Entity{ID: id, Name: name, CreationTime: now}
	} else {
		e = old.clone()
	}
	if f.name != nil {
		if other := s.st.entityByName[*f.name]; other != "" && other != e.ID {
			return nil, logical.InvalidRequest("entity name %q is already in use", *f.name)
		}
		e.Name = *f.name
	}
	if f.metadata != nil {
		e.Metadata = *f.metadata
	}
	if f.policies != nil {
		e.Policies = *f.policies
	}
	if f.disabled != nil {
		e.Disabled = *f.disabled
	}
	e.LastUpdateTime = now
	if err := s.commitLocked(ctx, &change{entities: []*Entity{e}}); err != nil {
		return nil, err
	}
	return &logical.Response{Data: &writeData{ID: e.ID, Name: e.Name}}, nil
}

// entityData is the API's view of an entity.
type entityData struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Metadata          map[string]string `json:"metadata"`
	Policies          []string          `json:"policies"`
	Disabled          bool              `json:"disabled"`
	Aliases           []*aliasData      `json:"aliases"`
	DirectGroupIDs    []string          `json:"direct_group_ids"`
	InheritedGroupIDs []string          `json:"inherited_group_ids"`
	GroupIDs          []string          `json:"group_ids"`
	MergedEntityIDs   []string          `json:"merged_entity_ids"`
	NamespaceID       string            `json:"namespace_id"`
	CreationTime      time.Time         `json:"creation_time"`
	LastUpdateTime    time.Time         `json:"last_update_time"`
}

// entityView is what a read needs, gathered under the lock; the records it
// points to are immutable.
type entityView struct {
	e                 *Entity
	aliases           []*alias
	direct, inherited []string
}

// entityViewLocked gathers the view of entity id, or nil when there is no
// such entity. s.mu or s.writeMu must be held.
func (s *Store) entityViewLocked(id string) *entityView {
	e := s.st.entities[id]
	if e == nil {
		return nil
	}
	v := &entityView{e: e, direct: s.directGroupsLocked(id)}
	for _, aid := range sortedKeys(s.st.entityAlias[id]) {
		v.aliases = append(v.aliases, s.st.aliases[aid])
	}
	all := s.ancestorsLocked(v.direct)
	for _, d := range v.direct {
		delete(all, d)
	}
	v.inherited = sortedKeys(all)
	return v
}

// ancestorsLocked returns start and every group that contains one of them
// directly or through member groups. Cycles are harmless. s.mu or
// s.writeMu must be held.
func (s *Store) ancestorsLocked(start []string) set {
	seen := make(set, len(start))
	queue := slices.Clone(start)
	for _, g := range start {
		seen[g] = struct{}{}
	}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		for p := range s.st.groupParents[g] {
			if _, ok := seen[p]; !ok {
				seen[p] = struct{}{}
				queue = append(queue, p)
			}
		}
	}
	return seen
}

// render turns a view into the API's shape. It calls the mount lookup, so
// it runs without the lock.
func (s *Store) renderEntity(v *entityView) *entityData {
	d := &entityData{
		ID:                v.e.ID,
		Name:              v.e.Name,
		Metadata:          v.e.Metadata,
		Policies:          nonNil(v.e.Policies),
		Disabled:          v.e.Disabled,
		Aliases:           make([]*aliasData, 0, len(v.aliases)),
		DirectGroupIDs:    nonNil(v.direct),
		InheritedGroupIDs: nonNil(v.inherited),
		GroupIDs:          nonNil(slices.Sorted(slices.Values(slices.Concat(v.direct, v.inherited)))),
		MergedEntityIDs:   []string{},
		CreationTime:      v.e.CreationTime,
		LastUpdateTime:    v.e.LastUpdateTime,
	}
	for _, a := range v.aliases {
		d.Aliases = append(d.Aliases, s.renderAlias(a))
	}
	return d
}

// entityResponse answers a read of entity id; nil means not found.
func (s *Store) entityResponse(id string) *logical.Response {
	s.mu.RLock()
	v := s.entityViewLocked(id)
	s.mu.RUnlock()
	if v == nil {
		return nil
	}
	return &logical.Response{Data: s.renderEntity(v)}
}

// deleteEntityLocked deletes entity id with its aliases and takes it out
// of every group (external ones included), in one transaction. A missing entity is not an error.
// s.writeMu must be held.
func (s *Store) deleteEntityLocked(ctx context.Context, id string) error {
	if s.st.entities[id] == nil {
		return nil
	}
	ch := &change{delEntities: []string{id}, delAliases: sortedKeys(s.st.entityAlias[id])}
	if s.st.memberships[id] != nil {
		ch.delMemberships = []string{id}
	}
	now := s.now()
	for _, gid := range sortedKeys(s.st.entityGroups[id]) {
		g := s.st.groups[gid].clone()
		g.MemberEntityIDs = slices.DeleteFunc(g.MemberEntityIDs, func(m string) bool { return m == id })
		g.LastUpdateTime = now
		g.ModifyIndex++
		ch.groups = append(ch.groups, g)
	}
	return s.commitLocked(ctx, ch)
}

// listData is a list response with per-key details, as Vault sends for
// lists by ID.
type listData[T any] struct {
	Keys    []string     `json:"keys"`
	KeyInfo map[string]T `json:"key_info,omitempty"`
}

// listResponse answers a list by ID: info's keys, sorted, with info as
// the key info; nil when info is empty.
func listResponse[T any](info map[string]T) *logical.Response {
	if len(info) == 0 {
		return nil
	}
	return &logical.Response{Data: &listData[T]{Keys: slices.Sorted(maps.Keys(info)), KeyInfo: info}}
}

// entityKeyInfo is what a list of entities by ID tells about each.
type entityKeyInfo struct {
	Name    string          `json:"name"`
	Aliases []*aliasKeyInfo `json:"aliases"`
}

func (s *Store) listEntityIDs(_ context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	type item struct {
		name    string
		aliases []*alias
	}
	s.mu.RLock()
	items := make(map[string]item, len(s.st.entities))
	for id, e := range s.st.entities {
		it := item{name: e.Name}
		for aid := range s.st.entityAlias[id] {
			it.aliases = append(it.aliases, s.st.aliases[aid])
		}
		items[id] = it
	}
	s.mu.RUnlock()
	infos := make(map[string]*entityKeyInfo, len(items))
	for id, it := range items {
		info := &entityKeyInfo{Name: it.name, Aliases: make([]*aliasKeyInfo, 0, len(it.aliases))}
		slices.SortFunc(it.aliases, func(a, b *alias) int { return strings.Compare(a.ID, b.ID) })
		for _, a := range it.aliases {
			info.Aliases = append(info.Aliases, s.aliasKeyInfo(a))
		}
		infos[id] = info
	}
	return listResponse(infos), nil
}
