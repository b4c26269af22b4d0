package identity

import (
	"context"
	"maps"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// aliasInput is the body of an entity alias write. Absent fields leave the
// alias's value unchanged on update.
type aliasInput struct {
	aliasRef
	CustomMetadata *KVPairs `json:"custom_metadata"`
}

// aliasRef is the part of an alias write body that entity and group
// aliases share: which alias (by id), or the name, mount and owner of a
// new one.
type aliasRef struct {
	ID            *string `json:"id"`
	Name          *string `json:"name"`
	CanonicalID   *string `json:"canonical_id"`
	MountAccessor *string `json:"mount_accessor"`
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

// aliasWrites is the write side of the entity-alias API.
func (s *Store) aliasWrites() *aliasWrite[alias, aliasInput, *aliasFields] {
	return &aliasWrite[alias, aliasInput, *aliasFields]{
		noun:             "entity alias",
		missingName:      "missing alias name",
		missingCanonical: "missing canonical_id",
		ref:              func(in *aliasInput) *aliasRef { return &in.aliasRef },
		validate:         s.validateAlias,
		records:          func() map[string]*alias { return s.st.aliases },
		upsert:           s.upsertAliasLocked,
	}
}

// aliasWrite is what the write handlers that entity and group aliases
// share need to know of one of the two. A is the stored alias, In the
// write body and F its validated form.
type aliasWrite[A, In, F any] struct {
	noun string // "entity alias": for messages
	// missingName and missingCanonical refuse a new alias without a name
	// or a canonical_id.
	missingName, missingCanonical string

	ref func(in *In) *aliasRef
	// validate checks in; it calls the mount lookup, so it runs without
	// the lock.
	validate func(in *In) (F, error)
	// records reads the aliases by ID; s.writeMu must be held.
	records func() map[string]*A
	// upsert applies f to old, or to a new alias when old is nil, and
	// stores the result; s.writeMu must be held.
	upsert func(ctx context.Context, old *A, f F) (*logical.Response, error)
}

// write serves POST base: it updates the alias named by id, or creates
// one from name, mount_accessor and canonical_id.
func (w *aliasWrite[A, In, F]) write(s *Store) framework.Handler {
	return framework.Typed(func(ctx context.Context, _ *logical.Request, _ *framework.Match, in *In) (*logical.Response, error) {
		r := w.ref(in)
		if r.ID != nil && *r.ID != "" {
			return w.update(ctx, s, *r.ID, in)
		}
		switch {
		case r.Name == nil:
			return nil, logical.InvalidRequest("%s", w.missingName)
		case r.MountAccessor == nil:
			return nil, logical.InvalidRequest("missing mount_accessor")
		case r.CanonicalID == nil:
			return nil, logical.InvalidRequest("%s", w.missingCanonical)
		}
		f, err := w.validate(in)
		if err != nil {
			return nil, err
		}
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		return w.upsert(ctx, nil, f)
	})
}

// updateByID serves POST base/id/:id.
func (w *aliasWrite[A, In, F]) updateByID(s *Store) framework.Handler {
	return framework.Typed(func(ctx context.Context, _ *logical.Request, m *framework.Match, in *In) (*logical.Response, error) {
		id := m.Get("id")
		if bodyID := w.ref(in).ID; bodyID != nil && *bodyID != id {
			return nil, logical.InvalidRequest("the id in the body does not match the path")
		}
		return w.update(ctx, s, id, in)
	})
}

func (w *aliasWrite[A, In, F]) update(ctx context.Context, s *Store, id string, in *In) (*logical.Response, error) {
	f, err := w.validate(in)
	if err != nil {
		return nil, err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	old := w.records()[id]
	if old == nil {
		return nil, logical.NotFound("no %s with ID %q", w.noun, id)
	}
	return w.upsert(ctx, old, f)
}

// upsertAliasLocked applies f to old, or to a new alias when old is nil,
// checks the alias rules and stores the result. s.writeMu must be held.
func (s *Store) upsertAliasLocked(ctx context.Context, old *alias, f *aliasFields) (*logical.Response, error) {
	now := s.now()
	var a *alias
	if old == nil {
		a = &alias{ID: uuid.New(), CreationTime: now}
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
