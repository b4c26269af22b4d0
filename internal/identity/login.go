package identity

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// errEntityDisabled is the logged cause of refusing a disabled entity.
var errEntityDisabled = errors.New("entity is disabled")

// denied is the error for a disabled entity. The client sees only
// "permission denied", as for any other refusal.
func denied() error {
	return &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "permission denied", Err: errEntityDisabled}
}

// LoginEntity maps a successful login to its entity and returns the
// entity's ID. The alias is found by mountAccessor and login.Name; on the
// first login through it, a new entity (named "entity_" and 8 hex digits)
// and the alias are created in one transaction. The alias's metadata is
// replaced by login.Metadata when it differs; mountType is recorded for
// when the mount is gone. Concurrent first logins of the same alias create
// exactly one entity. login.Metadata is copied, not retained.
//
// A disabled entity is refused with an [logical.ErrPermissionDenied] error
// and nothing is changed. A missing accessor or alias name is an
// [logical.ErrInvalidRequest] error.
func (s *Store) LoginEntity(ctx context.Context, mountAccessor, mountType string, login logical.Alias) (entityID string, err error) {
	if mountAccessor == "" || login.Name == "" {
		return "", logical.InvalidRequest("login alias needs a mount accessor and a name")
	}
	s.mu.RLock()
	id, done, err := s.knownLoginLocked(mountAccessor, login)
	s.mu.RUnlock()
	if done {
		return id, err
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// Another login may have created or updated the alias meanwhile.
	if id, done, err := s.knownLoginLocked(mountAccessor, login); done {
		return id, err
	}
	now := s.now()
	ch := &change{}
	a := s.st.aliases[s.st.aliasByKey[aliasKey(mountAccessor, login.Name)]]
	switch {
	case a != nil && s.st.entities[a.CanonicalID] != nil:
		a = a.clone() // a known alias whose metadata changed
	default:
		if a == nil {
			a = &alias{ID: uuid.New(), Name: login.Name, MountAccessor: mountAccessor, CreationTime: now}
		} else {
			a = a.clone() // an alias left without its entity gets a new one
		}
		id, name := s.newEntityIDLocked()
		ch.entities = []*Entity{{ID: id, Name: name, CreationTime: now, LastUpdateTime: now}}
		a.CanonicalID = id
	}
	if a.MountType == "" {
		a.MountType = mountType
	}
	a.Metadata = nil
	if len(login.Metadata) > 0 {
		a.Metadata = maps.Clone(login.Metadata)
	}
	a.LastUpdateTime = now
	ch.aliases = []*alias{a}
	if err := s.commitLocked(ctx, ch); err != nil {
		return "", err
	}
	if len(ch.entities) > 0 {
		s.logger.Info("entity created on first login", "entity_id", a.CanonicalID, "mount_accessor", mountAccessor)
	}
	return a.CanonicalID, nil
}

// knownLoginLocked answers a login that needs no change: done is true
// when the alias exists with the same metadata, or its entity is
// disabled (then err says so). s.mu or s.writeMu must be held.
func (s *Store) knownLoginLocked(mountAccessor string, login logical.Alias) (id string, done bool, err error) {
	a := s.st.aliases[s.st.aliasByKey[aliasKey(mountAccessor, login.Name)]]
	if a == nil {
		return "", false, nil
	}
	e := s.st.entities[a.CanonicalID]
	switch {
	case e == nil:
		return "", false, nil
	case e.Disabled:
		return "", true, denied()
	case !maps.Equal(a.Metadata, login.Metadata):
		return "", false, nil
	}
	return e.ID, true, nil
}

// Entity returns a copy of entity id, or an [logical.ErrNotFound] error.
func (s *Store) Entity(ctx context.Context, id string) (*Entity, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.st.entities[id]
	if e == nil {
		return nil, logical.NotFound("no entity with ID %q", id)
	}
	return e.clone(), nil
}

// Policies returns the policies entity id carries: its own and those of
// every group it belongs to (internal groups listing it and external
// groups its logins put it in, see [Store.LoginGroups]), directly or because its group is a member of
// another group, however deep; sorted and without duplicates. The slice is
// the caller's. An unknown entity (deleted, say) carries no policies and
// is not an error. A disabled entity is an [logical.ErrPermissionDenied]
// error, so that core refuses its tokens with the same call.
//
// Policies works from memory and memoises its answer per entity until the
// next change, so it is cheap enough for every request.
func (s *Store) Policies(ctx context.Context, id string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.st.entities[id]
	if e == nil {
		return nil, nil
	}
	if e.Disabled {
		return nil, denied()
	}
	s.cacheMu.Lock()
	p, ok := s.policyCache[id]
	s.cacheMu.Unlock()
	if !ok {
		p = s.policiesLocked(e)
		s.cacheMu.Lock()
		s.policyCache[id] = p
		s.cacheMu.Unlock()
	}
	return slices.Clone(p), nil
}

// policiesLocked computes Policies for e. s.mu must be held.
func (s *Store) policiesLocked(e *Entity) []string {
	out := slices.Clone(e.Policies)
	for g := range s.ancestorsLocked(s.directGroupsLocked(e.ID)) {
		if grp := s.st.groups[g]; grp != nil {
			out = append(out, grp.Policies...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// DeleteMountAliases deletes every entity and group alias on the mount
// with the given accessor and the external group memberships logins
// through it gained, in one transaction; core calls it when an auth mount
// is disabled. Entities and groups are kept, as Vault keeps them.
func (s *Store) DeleteMountAliases(ctx context.Context, mountAccessor string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ch := &change{}
	for id, a := range s.st.aliases {
		if a.MountAccessor == mountAccessor {
			ch.delAliases = append(ch.delAliases, id)
		}
	}
	slices.Sort(ch.delAliases)
	for id, a := range s.st.groupAliases {
		if a.MountAccessor == mountAccessor {
			ch.delGroupAliases = append(ch.delGroupAliases, id)
		}
	}
	slices.Sort(ch.delGroupAliases)
	s.dropMembershipsLocked(ch, slices.Sorted(maps.Keys(s.st.memberships)), func(acc, _ string) bool { return acc == mountAccessor })
	return s.commitLocked(ctx, ch)
}
