package identity

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// groupAlias is the stored record of a group alias: the name an auth
// mount gives an external group (such as a value of a JWT groups claim).
type groupAlias struct {
	ID             string    `json:"id"`
	CanonicalID    string    `json:"canonical_id"` // the external group's ID
	Name           string    `json:"name"`
	MountAccessor  string    `json:"mount_accessor"`
	MountType      string    `json:"mount_type,omitempty"`
	CreationTime   time.Time `json:"creation_time"`
	LastUpdateTime time.Time `json:"last_update_time"`
}

// membership is the stored record of the external groups one entity is in
// because of its logins: per auth mount accessor, the sorted IDs of the
// groups whose aliases the last login through that mount named.
type membership struct {
	EntityID string              `json:"entity_id"`
	Groups   map[string][]string `json:"groups"`
}

func (m *membership) clone() *membership {
	c := *m
	c.Groups = make(map[string][]string, len(m.Groups))
	for acc, ids := range m.Groups {
		c.Groups[acc] = slices.Clone(ids)
	}
	return &c
}

func (st *state) putGroupAlias(a *groupAlias) {
	st.deleteGroupAlias(a.ID)
	st.groupAliases[a.ID] = a
	st.groupAliasByKey[aliasKey(a.MountAccessor, a.Name)] = a.ID
	st.groupAliasOf[a.CanonicalID] = a.ID
}

func (st *state) deleteGroupAlias(id string) {
	old := st.groupAliases[id]
	if old == nil {
		return
	}
	if k := aliasKey(old.MountAccessor, old.Name); st.groupAliasByKey[k] == id {
		delete(st.groupAliasByKey, k)
	}
	if st.groupAliasOf[old.CanonicalID] == id {
		delete(st.groupAliasOf, old.CanonicalID)
	}
	delete(st.groupAliases, id)
}

func (st *state) putMembership(m *membership) {
	st.deleteMembership(m.EntityID)
	st.memberships[m.EntityID] = m
	for _, ids := range m.Groups {
		for _, g := range ids {
			addTo(st.externalMembers, g, m.EntityID)
		}
	}
}

func (st *state) deleteMembership(entityID string) {
	old := st.memberships[entityID]
	if old == nil {
		return
	}
	for _, ids := range old.Groups {
		for _, g := range ids {
			removeFrom(st.externalMembers, g, entityID)
		}
	}
	delete(st.memberships, entityID)
}

// directGroupsLocked returns, sorted, the groups entity id is directly in:
// internal groups listing it and external groups its logins put it in.
// s.mu or s.writeMu must be held.
func (s *Store) directGroupsLocked(id string) []string {
	all := maps.Clone(s.st.entityGroups[id])
	if m := s.st.memberships[id]; m != nil {
		if all == nil {
			all = make(set)
		}
		for _, ids := range m.Groups {
			for _, g := range ids {
				if s.st.groups[g] != nil {
					all[g] = struct{}{}
				}
			}
		}
	}
	return sortedKeys(all)
}

// dropMembershipsLocked adds to ch the membership records of the given
// entities with every (accessor, group ID) pair for which drop is true
// removed; records left empty are deleted. s.writeMu must be held.
func (s *Store) dropMembershipsLocked(ch *change, entities []string, drop func(accessor, groupID string) bool) {
	for _, eid := range entities {
		old := s.st.memberships[eid]
		if old == nil {
			continue
		}
		m := old.clone()
		changed := false
		for acc, ids := range m.Groups {
			kept := slices.DeleteFunc(ids, func(g string) bool { return drop(acc, g) })
			if len(kept) != len(old.Groups[acc]) {
				changed = true
			}
			if len(kept) == 0 {
				delete(m.Groups, acc)
			} else {
				m.Groups[acc] = kept
			}
		}
		switch {
		case !changed:
		case len(m.Groups) == 0:
			ch.delMemberships = append(ch.delMemberships, eid)
		default:
			ch.memberships = append(ch.memberships, m)
		}
	}
}

// loginGroupIDsLocked resolves group alias names on a mount to the sorted
// IDs of their external groups; unknown names are ignored. s.mu or
// s.writeMu must be held.
func (s *Store) loginGroupIDsLocked(mountAccessor string, names []string) []string {
	var ids []string
	for _, n := range names {
		a := s.st.groupAliases[s.st.groupAliasByKey[aliasKey(mountAccessor, n)]]
		if a != nil && s.st.groups[a.CanonicalID] != nil {
			ids = append(ids, a.CanonicalID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// LoginGroups records that entityID, logging in through the auth mount
// with accessor mountAccessor, is in the external groups whose group
// aliases on that mount are named in groupNames. It replaces what the
// previous login through that mount recorded and leaves the other mounts'
// memberships alone; names without a group alias are ignored (no group is
// created for them). [Store.Policies] then includes those groups' policies
// and their parents'. Nothing is written when the set is unchanged.
//
// A missing accessor or entity ID is an [logical.ErrInvalidRequest] error,
// an unknown entity an [logical.ErrNotFound] error.
func (s *Store) LoginGroups(ctx context.Context, mountAccessor, entityID string, groupNames []string) error {
	if mountAccessor == "" || entityID == "" {
		return logical.InvalidRequest("login groups need a mount accessor and an entity ID")
	}
	s.mu.RLock()
	_, done, err := s.loginGroupsChangeLocked(mountAccessor, entityID, groupNames)
	s.mu.RUnlock()
	if done {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ch, done, err := s.loginGroupsChangeLocked(mountAccessor, entityID, groupNames)
	if done {
		return err
	}
	return s.commitLocked(ctx, ch)
}

// loginGroupsChangeLocked works out what LoginGroups must write; done is
// true when nothing is to be written (then err is the answer). s.mu or
// s.writeMu must be held.
func (s *Store) loginGroupsChangeLocked(mountAccessor, entityID string, groupNames []string) (ch *change, done bool, err error) {
	if s.st.entities[entityID] == nil {
		return nil, true, logical.NotFound("no entity with ID %q", entityID)
	}
	ids := s.loginGroupIDsLocked(mountAccessor, groupNames)
	old := s.st.memberships[entityID]
	var oldIDs []string
	if old != nil {
		oldIDs = old.Groups[mountAccessor]
	}
	if slices.Equal(ids, oldIDs) {
		return nil, true, nil
	}
	m := &membership{EntityID: entityID, Groups: map[string][]string{}}
	if old != nil {
		m = old.clone()
	}
	if len(ids) == 0 {
		delete(m.Groups, mountAccessor)
	} else {
		m.Groups[mountAccessor] = ids
	}
	if len(m.Groups) == 0 {
		return &change{delMemberships: []string{entityID}}, false, nil
	}
	return &change{memberships: []*membership{m}}, false, nil
}

// groupAliasInput is the body of a group alias write. Absent fields leave
// the alias's value unchanged on update.
type groupAliasInput struct {
	aliasRef
}

// validateGroupAlias checks in and resolves its mount accessor. It calls
// the mount lookup, so it must run without the lock.
func (s *Store) validateGroupAlias(in *groupAliasInput) (mountType string, err error) {
	if in.Name != nil {
		if err := checkName("group alias", *in.Name); err != nil {
			return "", err
		}
	}
	if in.CanonicalID != nil && *in.CanonicalID == "" {
		return "", logical.InvalidRequest("canonical_id must not be empty")
	}
	if in.MountAccessor != nil {
		_, typ, ok := s.mounts(*in.MountAccessor)
		if !ok {
			return "", logical.InvalidRequest("invalid mount accessor %q", *in.MountAccessor)
		}
		mountType = typ
	}
	return mountType, nil
}

// groupAliasWrites is the write side of the group-alias API.
func (s *Store) groupAliasWrites() *aliasWrite[groupAlias, groupAliasInput, validGroupAlias] {
	return &aliasWrite[groupAlias, groupAliasInput, validGroupAlias]{
		noun:             "group alias",
		missingName:      "missing group alias name",
		missingCanonical: "missing canonical_id: create the external group first",
		ref:              func(in *groupAliasInput) *aliasRef { return &in.aliasRef },
		validate: func(in *groupAliasInput) (validGroupAlias, error) {
			typ, err := s.validateGroupAlias(in)
			return validGroupAlias{in: in, mountType: typ}, err
		},
		records: func() map[string]*groupAlias { return s.st.groupAliases },
		upsert: func(ctx context.Context, old *groupAlias, v validGroupAlias) (*logical.Response, error) {
			return s.upsertGroupAliasLocked(ctx, old, v.in, v.mountType)
		},
	}
}

// validGroupAlias is a checked group-alias write with the type of its
// mount.
type validGroupAlias struct {
	in        *groupAliasInput
	mountType string
}

// upsertGroupAliasLocked applies in to old, or to a new alias when old is
// nil, checks the rules and stores the result. When the alias moves to
// another group or mount, the memberships logins gained through it go.
// s.writeMu must be held.
func (s *Store) upsertGroupAliasLocked(ctx context.Context, old *groupAlias, in *groupAliasInput, mountType string) (*logical.Response, error) {
	now := s.now()
	a := &groupAlias{ID: uuid.New(), CreationTime: now}
	if old != nil {
		c := *old
		a = &c
	}
	if in.Name != nil {
		a.Name = *in.Name
	}
	if in.CanonicalID != nil {
		a.CanonicalID = *in.CanonicalID
	}
	if in.MountAccessor != nil {
		a.MountAccessor = *in.MountAccessor
		a.MountType = mountType
	}
	a.LastUpdateTime = now
	g := s.st.groups[a.CanonicalID]
	switch {
	case g == nil:
		return nil, logical.InvalidRequest("no group with canonical_id %q", a.CanonicalID)
	case g.Type != typeExternal:
		return nil, logical.InvalidRequest("group %q is not an external group: only external groups can have aliases", a.CanonicalID)
	}
	if other := s.st.groupAliasOf[a.CanonicalID]; other != "" && other != a.ID {
		return nil, logical.InvalidRequest("group %q already has an alias", a.CanonicalID)
	}
	if other := s.st.groupAliasByKey[aliasKey(a.MountAccessor, a.Name)]; other != "" && other != a.ID {
		return nil, logical.InvalidRequest("a group alias named %q already exists on mount accessor %q", a.Name, a.MountAccessor)
	}
	ch := &change{groupAliases: []*groupAlias{a}}
	if old != nil && (old.CanonicalID != a.CanonicalID || old.MountAccessor != a.MountAccessor) {
		s.dropAliasMembershipsLocked(ch, old)
	}
	if err := s.commitLocked(ctx, ch); err != nil {
		return nil, err
	}
	return &logical.Response{Data: &aliasWriteData{ID: a.ID, CanonicalID: a.CanonicalID}}, nil
}

// dropAliasMembershipsLocked adds to ch the removal of the memberships
// that logins gained through group alias a. s.writeMu must be held.
func (s *Store) dropAliasMembershipsLocked(ch *change, a *groupAlias) {
	s.dropMembershipsLocked(ch, sortedKeys(s.st.externalMembers[a.CanonicalID]), func(acc, g string) bool {
		return acc == a.MountAccessor && g == a.CanonicalID
	})
}

// groupAliasData is the API's view of a group alias.
type groupAliasData struct {
	ID                     string            `json:"id"`
	CanonicalID            string            `json:"canonical_id"`
	Name                   string            `json:"name"`
	MountAccessor          string            `json:"mount_accessor"`
	MountPath              string            `json:"mount_path"`
	MountType              string            `json:"mount_type"`
	Metadata               map[string]string `json:"metadata"`
	MergedFromCanonicalIDs []string          `json:"merged_from_canonical_ids"`
	NamespaceID            string            `json:"namespace_id"`
	CreationTime           time.Time         `json:"creation_time"`
	LastUpdateTime         time.Time         `json:"last_update_time"`
}

// renderGroupAlias turns a into the API's shape. It calls the mount
// lookup, so it runs without the lock.
func (s *Store) renderGroupAlias(a *groupAlias) *groupAliasData {
	path, typ := s.mountOf(&alias{MountAccessor: a.MountAccessor, MountType: a.MountType})
	return &groupAliasData{
		ID:                     a.ID,
		CanonicalID:            a.CanonicalID,
		Name:                   a.Name,
		MountAccessor:          a.MountAccessor,
		MountPath:              path,
		MountType:              typ,
		MergedFromCanonicalIDs: []string{},
		CreationTime:           a.CreationTime,
		LastUpdateTime:         a.LastUpdateTime,
	}
}

func (s *Store) readGroupAlias(_ context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	return readRecord(s, func() map[string]*groupAlias { return s.st.groupAliases }, m.Get("id"), func(a *groupAlias) any { return s.renderGroupAlias(a) }), nil
}

func (s *Store) deleteGroupAlias(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	id := m.Get("id")
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	a := s.st.groupAliases[id]
	if a == nil {
		return nil, nil
	}
	ch := &change{delGroupAliases: []string{id}}
	s.dropAliasMembershipsLocked(ch, a)
	return nil, s.commitLocked(ctx, ch)
}

// groupAliasKeyInfo is what a list of group aliases tells about each.
type groupAliasKeyInfo struct {
	CanonicalID   string `json:"canonical_id"`
	Name          string `json:"name"`
	MountAccessor string `json:"mount_accessor"`
	MountPath     string `json:"mount_path"`
	MountType     string `json:"mount_type"`
}

func (s *Store) listGroupAliases(_ context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	return listAliasesIn(s, func() map[string]*groupAlias { return s.st.groupAliases }, func(a *groupAlias) *groupAliasKeyInfo {
		r := s.renderGroupAlias(a)
		return &groupAliasKeyInfo{
			CanonicalID:   r.CanonicalID,
			Name:          r.Name,
			MountAccessor: r.MountAccessor,
			MountPath:     r.MountPath,
			MountType:     r.MountType,
		}
	}), nil
}
