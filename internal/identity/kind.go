package identity

import (
	"context"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// ref is the part of an entity or group write body that says which one
// to update: by id, or else by name.
type ref struct {
	ID   *string `json:"id"`
	Name *string `json:"name"`
}

// kind is what the handlers that entities and groups share need to know of
// one of the two: the API is the same shape for both (write by id or name,
// read, delete and list by ID and by name). R is the stored record, In the
// write body and F its validated form.
type kind[R, In, F any] struct {
	noun, plural, article string // "entity", "entities", "an entity": for messages and help
	writeSynopsis         string

	ref      func(in *In) *ref
	validate func(in *In) (F, error)
	// records and byName read the state (the records by ID, their IDs
	// by name): s.mu or s.writeMu must be held.
	records func() map[string]*R
	byName  func() map[string]string
	// upsert applies f to old, or to a new record when old is nil, and
	// stores the result; remove deletes record id, which may not exist.
	// s.writeMu must be held for both.
	upsert func(ctx context.Context, old *R, f F) (*logical.Response, error)
	remove func(ctx context.Context, id string) error
	// response answers a read of record id, nil when there is none; it
	// takes s.mu itself.
	response func(id string) *logical.Response
	// listIDs answers a list by ID, with the kind's key info.
	listIDs framework.Handler
	// aliasOwner returns the canonical ID of the (group) alias with the
	// ID aliasID, "" when there is none; aliasByKey indexes those
	// aliases by aliasKey. Both read the state: s.mu must be held.
	aliasOwner func(aliasID string) string
	aliasByKey func() map[string]string
}

// exists reports whether record id exists. s.mu or s.writeMu must be
// held.
func (k *kind[R, In, F]) exists(id string) bool { return k.records()[id] != nil }

// paths returns the kind's five paths under base ("entity").
func (k *kind[R, In, F]) paths(s *Store, base string) []*framework.Path {
	r, u, d, l := logical.ReadOperation, logical.UpdateOperation, logical.DeleteOperation, logical.ListOperation
	return []*framework.Path{
		{
			Pattern:    base,
			Operations: map[logical.Operation]framework.Handler{u: framework.Typed(k.write(s))},
			Synopsis:   k.writeSynopsis,
		},
		{
			Pattern:    base + `/id/?`,
			Operations: map[logical.Operation]framework.Handler{l: k.listIDs},
			Synopsis:   "List " + k.plural + " by ID.",
		},
		{
			Pattern: base + `/id/` + idCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: k.readByID, u: framework.Typed(k.updateByID(s)), d: k.deleteByID(s),
			},
			ExistenceCheck: s.exists(func(m *framework.Match) bool { return k.exists(m.Get("id")) }),
			Synopsis:       "Read, update or delete " + k.article + " by ID.",
		},
		{
			Pattern:    base + `/name/?`,
			Operations: map[logical.Operation]framework.Handler{l: k.listNames(s)},
			Synopsis:   "List " + k.plural + " by name.",
		},
		{
			Pattern: base + `/name/` + nameCapture,
			Operations: map[logical.Operation]framework.Handler{
				r: k.readByName(s), u: framework.Typed(k.writeByName(s)), d: k.deleteByName(s),
			},
			ExistenceCheck: s.exists(func(m *framework.Match) bool { return k.byName()[m.Get("name")] != "" }),
			Synopsis:       "Create, read, update or delete " + k.article + " by name.",
		},
	}
}

// write serves POST base: it updates the record named by id or else by
// name when one exists, and creates one otherwise.
func (k *kind[R, In, F]) write(s *Store) framework.TypedHandler[In] {
	return func(ctx context.Context, _ *logical.Request, _ *framework.Match, in *In) (*logical.Response, error) {
		f, err := k.validate(in)
		if err != nil {
			return nil, err
		}
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		var id string
		switch ref := k.ref(in); {
		case ref.ID != nil && *ref.ID != "":
			if id = *ref.ID; !k.exists(id) {
				return nil, logical.NotFound("no %s with ID %q", k.noun, id)
			}
		case ref.Name != nil:
			id = k.byName()[*ref.Name]
		}
		return k.upsert(ctx, k.records()[id], f)
	}
}

// updateByID serves POST base/id/:id.
func (k *kind[R, In, F]) updateByID(s *Store) framework.TypedHandler[In] {
	return func(ctx context.Context, _ *logical.Request, m *framework.Match, in *In) (*logical.Response, error) {
		id := m.Get("id")
		if ref := k.ref(in); ref.ID != nil && *ref.ID != id {
			return nil, logical.InvalidRequest("the id in the body does not match the path")
		}
		f, err := k.validate(in)
		if err != nil {
			return nil, err
		}
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		old := k.records()[id]
		if old == nil {
			return nil, logical.NotFound("no %s with ID %q", k.noun, id)
		}
		return k.upsert(ctx, old, f)
	}
}

// writeByName serves POST base/name/:name, which creates the record when
// it does not exist.
func (k *kind[R, In, F]) writeByName(s *Store) framework.TypedHandler[In] {
	return func(ctx context.Context, _ *logical.Request, m *framework.Match, in *In) (*logical.Response, error) {
		name := m.Get("name")
		ref := k.ref(in)
		if ref.Name != nil && *ref.Name != name {
			return nil, logical.InvalidRequest("the name in the body does not match the path")
		}
		if ref.ID != nil {
			return nil, logical.InvalidRequest("id cannot be set when writing %s by name", k.article)
		}
		ref.Name = &name
		f, err := k.validate(in)
		if err != nil {
			return nil, err
		}
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		return k.upsert(ctx, k.records()[k.byName()[name]], f)
	}
}

func (k *kind[R, In, F]) readByID(_ context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	return k.response(m.Get("id")), nil
}

func (k *kind[R, In, F]) readByName(s *Store) framework.Handler {
	return func(_ context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
		s.mu.RLock()
		id := k.byName()[m.Get("name")]
		s.mu.RUnlock()
		if id == "" {
			return nil, nil
		}
		return k.response(id), nil
	}
}

func (k *kind[R, In, F]) deleteByID(s *Store) framework.Handler {
	return func(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		return nil, k.remove(ctx, m.Get("id"))
	}
}

func (k *kind[R, In, F]) deleteByName(s *Store) framework.Handler {
	return func(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		return nil, k.remove(ctx, k.byName()[m.Get("name")])
	}
}

func (k *kind[R, In, F]) listNames(s *Store) framework.Handler {
	return func(_ context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
		s.mu.RLock()
		names := make([]string, 0, len(k.byName()))
		for n := range k.byName() {
			names = append(names, n)
		}
		s.mu.RUnlock()
		slices.Sort(names)
		return framework.ListResponse(names)
	}
}

// owned is an alias or group alias: it belongs to the entity or group
// with its canonical ID.
type owned interface{ canonical() string }

func (a *alias) canonical() string      { return a.CanonicalID }
func (a *groupAlias) canonical() string { return a.CanonicalID }

// ownerIn returns a kind's aliasOwner over the aliases that aliases
// returns.
func ownerIn[A owned](aliases func() map[string]A) func(aliasID string) string {
	return func(aliasID string) string {
		if a, ok := aliases()[aliasID]; ok {
			return a.canonical()
		}
		return ""
	}
}
