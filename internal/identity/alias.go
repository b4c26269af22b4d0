package identity

import (
	"context"
	"maps"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// aliasInput is the body of an entity alias write. Absent fields leave the
// alias's value unchanged on update.
type aliasInput struct {
	ID             *string  `json:"id"`
	Name           *string  `json:"name"`
	CanonicalID    *string  `json:"canonical_id"`
	MountAccessor  *string  `json:"mount_accessor"`
	CustomMetadata *KVPairs `json:"custom_metadata"`
}

// aliasFields is a validated aliasInput; nil pointers mean "unchanged".
type aliasFields struct {
	name, canonicalID *string
	accessor          *string
	mountType         string // the type of *accessor's mount
	customMetadata    *map[string]string
}

// validate checks in and resolves its mount accessor. It calls the mount
// lookup, so it must run without the lock.
func (s *Store) validateAlias(in *aliasInput) (*aliasFields, error) {
	f := &aliasFields{name: in.Name, canonicalID: in.CanonicalID, accessor: in.MountAccessor}
	if in.Name != nil {
		if err := checkName("alias", *in.Name); err != nil {
			return nil, err
		}
	}
	if in.CanonicalID != nil && *in.CanonicalID == "" {
		return nil, logical.InvalidRequest("canonical_id must not be empty")
	}
	if in.MountAccessor != nil {
		_, typ, ok := s.mounts(*in.MountAccessor)
		if !ok {
			return nil, logical.InvalidRequest("invalid mount accessor %q", *in.MountAccessor)
		}
		f.mountType = typ
	}
	if in.CustomMetadata != nil {
		md, err := metadataOf("custom_metadata", *in.CustomMetadata)
		if err != nil {
			return nil, err
		}
		f.customMetadata = &md
	}
	return f, nil
}

// aliasWriteData answers an alias write.
type aliasWriteData struct {
	ID          string `json:"id"`
	CanonicalID string `json:"canonical_id"`
}

// writeAlias serves POST entity-alias: it updates the alias named by id,
// or creates one from name, mount_accessor and canonical_id.
func (s *Store) writeAlias(ctx context.Context, _ *logical.Request, _ *framework.Match, in *aliasInput) (*logical.Response, error) {
	if in.ID != nil && *in.ID != "" {
		return s.updateAlias(ctx, *in.ID, in)
	}
	switch {
	case in.Name == nil:
		return nil, logical.InvalidRequest("missing alias name")
	case in.MountAccessor == nil:
		return nil, logical.InvalidRequest("missing mount_accessor")
	case in.CanonicalID == nil:
		return nil, logical.InvalidRequest("missing canonical_id")
	}
	f, err := s.validateAlias(in)
	if err != nil {
		return nil, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.upsertAliasLocked(ctx, nil, f)
}

// updateAliasByID serves POST entity-alias/id/:id.
func (s *Store) updateAliasByID(ctx context.Context, _ *logical.Request, m *framework.Match, in *aliasInput) (*logical.Response, error) {
	id := m.Get("id")
	if in.ID != nil && *in.ID != id {
		return nil, logical.InvalidRequest("the id in the body does not match the path")
	}
	return s.updateAlias(ctx, id, in)
}

func (s *Store) updateAlias(ctx context.Context, id string, in *aliasInput) (*logical.Response, error) {
	f, err := s.validateAlias(in)
	if err != nil {
		return nil, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	old := s.st.aliases[id]
	if old == nil {
		return nil, logical.NotFound("no entity alias with ID %q", id)
	}
	return s.upsertAliasLocked(ctx, old, f)
}

// upsertAliasLocked applies f to old, or to a new alias when old is nil,
// checks the alias rules and stores the result. s.writeMu must be held.
func (s *Store) upsertAliasLocked(ctx context.Context, old *alias, f *aliasFields) (*logical.Response, error) {
	now := s.now()
	var a *alias
	if old == nil {
		a = &alias{ID: newID(), CreationTime: now}
	} else {
		a = old.clone()
	}
	if f.name != nil {
		a.Name = *f.name
	}
	if f.canonicalID != nil {
		a.CanonicalID = *f.canonicalID
	}
	if f.accessor != nil {
		a.MountAccessor = *f.accessor
		a.MountType = f.mountType
	}
	if f.customMetadata != nil {
		a.CustomMetadata = *f.customMetadata
	}
	a.LastUpdateTime = now
	if err := s.checkAliasLocked(a); err != nil {
		return nil, err
	}
	if err := s.commitLocked(ctx, &change{aliases: []*alias{a}}); err != nil {
		return nil, err
	}
	return &logical.Response{Data: &aliasWriteData{ID: a.ID, CanonicalID: a.CanonicalID}}, nil
}

// checkAliasLocked enforces the alias rules on a, which is about to be
// stored: its entity exists, no other alias has its name on its mount,
// and its entity has no other alias on that mount. s.mu or s.writeMu must
// be held.
func (s *Store) checkAliasLocked(a *alias) error {
	if s.st.entities[a.CanonicalID] == nil {
		return logical.InvalidRequest("no entity with canonical_id %q", a.CanonicalID)
	}
	if other := s.st.aliasByKey[aliasKey(a.MountAccessor, a.Name)]; other != "" && other != a.ID {
		return logical.InvalidRequest("an alias named %q already exists on mount accessor %q", a.Name, a.MountAccessor)
	}
	for aid := range s.st.entityAlias[a.CanonicalID] {
		if aid != a.ID && s.st.aliases[aid].MountAccessor == a.MountAccessor {
			return logical.InvalidRequest("entity %q already has an alias on mount accessor %q", a.CanonicalID, a.MountAccessor)
		}
	}
	return nil
}

// aliasData is the API's view of an entity alias.
type aliasData struct {
	ID                     string            `json:"id"`
	CanonicalID            string            `json:"canonical_id"`
	Name                   string            `json:"name"`
	MountAccessor          string            `json:"mount_accessor"`
	MountPath              string            `json:"mount_path"`
	MountType              string            `json:"mount_type"`
	Metadata               map[string]string `json:"metadata"`
	CustomMetadata         map[string]string `json:"custom_metadata"`
	MergedFromCanonicalIDs []string          `json:"merged_from_canonical_ids"`
	Local                  bool              `json:"local"`
	NamespaceID            string            `json:"namespace_id"`
	CreationTime           time.Time         `json:"creation_time"`
	LastUpdateTime         time.Time         `json:"last_update_time"`
}

// aliasKeyInfo is what lists tell about each alias.
type aliasKeyInfo struct {
	ID             string            `json:"id"`
	CanonicalID    string            `json:"canonical_id"`
	Name           string            `json:"name"`
	MountAccessor  string            `json:"mount_accessor"`
	MountPath      string            `json:"mount_path"`
	MountType      string            `json:"mount_type"`
	CustomMetadata map[string]string `json:"custom_metadata"`
	Local          bool              `json:"local"`
}

// mountOf names the mount of accessor, falling back to the type recorded
// in the alias when the mount is gone. It calls the mount lookup, so it
// runs without the lock.
func (s *Store) mountOf(a *alias) (path, typ string) {
	if p, t, ok := s.mounts(a.MountAccessor); ok {
		return p, t
	}
	return "", a.MountType
}

func (s *Store) renderAlias(a *alias) *aliasData {
	path, typ := s.mountOf(a)
	return &aliasData{
		ID:                     a.ID,
		CanonicalID:            a.CanonicalID,
		Name:                   a.Name,
		MountAccessor:          a.MountAccessor,
		MountPath:              path,
		MountType:              typ,
		Metadata:               a.Metadata,
		CustomMetadata:         a.CustomMetadata,
		MergedFromCanonicalIDs: []string{},
		CreationTime:           a.CreationTime,
		LastUpdateTime:         a.LastUpdateTime,
	}
}

// aliasKeyInfo is the part of a's read view that lists show.
func (s *Store) aliasKeyInfo(a *alias) *aliasKeyInfo {
	r := s.renderAlias(a)
	return &aliasKeyInfo{ID: r.ID, CanonicalID: r.CanonicalID, Name: r.Name, MountAccessor: r.MountAccessor,
		MountPath: r.MountPath, MountType: r.MountType, CustomMetadata: r.CustomMetadata, Local: r.Local}
}

func (s *Store) readAlias(_ context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	return readRecord(s, func() map[string]*alias { return s.st.aliases }, m.Get("id"), func(a *alias) any { return s.renderAlias(a) }), nil
}

func (s *Store) deleteAlias(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	id := m.Get("id")
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.st.aliases[id] == nil {
		return nil, nil
	}
	return nil, s.commitLocked(ctx, &change{delAliases: []string{id}})
}

func (s *Store) listAliases(_ context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	return listAliasesIn(s, func() map[string]*alias { return s.st.aliases }, s.aliasKeyInfo), nil
}

// listAliasesIn answers a list of the aliases in records by ID, with
// info for each: it copies them under s.mu and calls info without it (info
// looks up mounts).
func listAliasesIn[A, K any](s *Store, records func() map[string]A, info func(A) K) *logical.Response {
	s.mu.RLock()
	all := maps.Clone(records())
	s.mu.RUnlock()
	infos := make(map[string]K, len(all))
	for id, a := range all {
		infos[id] = info(a)
	}
	return listResponse(infos)
}
