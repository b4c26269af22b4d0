package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// Storage key prefixes, one per kind of record.
const (
	entityPrefix = "entity/"
	aliasPrefix  = "alias/"
	groupPrefix  = "group/"
	// groupAliasPrefix holds group aliases; membershipPrefix holds, per
	// entity, the external groups its logins put it in.
	groupAliasPrefix = "group-alias/"
	membershipPrefix = "external-membership/"
)

// MountLookup resolves an auth mount accessor to the mount's path (such as
// "auth/userpass/") and type (such as "userpass"); ok is false when no
// mount has that accessor. It must be safe for concurrent use. The store
// never calls it while holding its own lock.
type MountLookup func(accessor string) (path, mountType string, ok bool)

// Options is what [New] needs. Storage is required; the rest have defaults.
type Options struct {
	// Storage is the store's private, barrier-backed storage.
	Storage logical.Storage
	// Logger receives lifecycle messages; nil discards them.
	Logger *slog.Logger
	// Clock stamps creation and update times; nil means the wall clock.
	Clock logical.Clock
	// Mounts validates mount_accessor in alias writes and names the mount
	// in alias output; nil treats every accessor as unknown.
	Mounts MountLookup
}

// Entity is one identity: a person or a service, known to auth mounts
// through its aliases. It is also the stored record of an entity. Values
// handed out by [Store.Entity] are copies the caller owns.
type Entity struct {
	// ID is a random UUID, fixed for the entity's life.
	ID string `json:"id"`
	// Name is unique among entities; "entity_<8 hex>" unless set.
	Name string `json:"name"`
	// Metadata is free-form and not secret; nil when empty.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Policies are the entity's own policies, lower-case and sorted; the
	// groups' policies are not included (see [Store.Policies]).
	Policies []string `json:"policies,omitempty"`
	// Disabled entities cannot log in, and their tokens must be refused.
	Disabled bool `json:"disabled,omitempty"`
	// CreationTime and LastUpdateTime are in UTC.
	CreationTime   time.Time `json:"creation_time"`
	LastUpdateTime time.Time `json:"last_update_time"`
}

// clone returns a deep copy of e.
func (e *Entity) clone() *Entity {
	c := *e
	c.Metadata = maps.Clone(e.Metadata)
	c.Policies = slices.Clone(e.Policies)
	return &c
}

// alias is the stored record of an entity alias.
type alias struct {
	ID             string            `json:"id"`
	CanonicalID    string            `json:"canonical_id"`
	Name           string            `json:"name"`
	MountAccessor  string            `json:"mount_accessor"`
	MountType      string            `json:"mount_type,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
	CustomMetadata map[string]string `json:"custom_metadata,omitempty"`
	CreationTime   time.Time         `json:"creation_time"`
	LastUpdateTime time.Time         `json:"last_update_time"`
}

func (a *alias) clone() *alias {
	c := *a
	c.Metadata = maps.Clone(a.Metadata)
	c.CustomMetadata = maps.Clone(a.CustomMetadata)
	return &c
}

// group is the stored record of an internal group.
type group struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Type            string            `json:"type"`
	Metadata        map[string]string `json:"metadata,omitempty"`
	Policies        []string          `json:"policies,omitempty"`
	MemberEntityIDs []string          `json:"member_entity_ids,omitempty"`
	MemberGroupIDs  []string          `json:"member_group_ids,omitempty"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdateTime  time.Time         `json:"last_update_time"`
	ModifyIndex     uint64            `json:"modify_index"`
}

func (g *group) clone() *group {
	c := *g
	c.Metadata = maps.Clone(g.Metadata)
	c.Policies = slices.Clone(g.Policies)
	c.MemberEntityIDs = slices.Clone(g.MemberEntityIDs)
	c.MemberGroupIDs = slices.Clone(g.MemberGroupIDs)
	return &c
}

// set is a set of IDs.
type set map[string]struct{}

// state is everything the store knows, with its indexes. Records in it are
// never modified in place: a change stores a modified copy.
type state struct {
	entities     map[string]*Entity // by ID
	entityByName map[string]string  // name -> entity ID
	aliases      map[string]*alias  // by ID
	aliasByKey   map[string]string  // aliasKey(accessor, name) -> alias ID
	entityAlias  map[string]set     // entity ID -> its alias IDs
	groups       map[string]*group  // by ID
	groupByName  map[string]string  // name -> group ID
	entityGroups map[string]set     // entity ID -> groups listing it as a member
	groupParents map[string]set     // group ID -> groups listing it as a member group

	groupAliases    map[string]*groupAlias // by ID
	groupAliasByKey map[string]string      // aliasKey(accessor, name) -> group alias ID
	groupAliasOf    map[string]string      // group ID -> its group alias ID
	memberships     map[string]*membership // entity ID -> its external memberships
	externalMembers map[string]set         // external group ID -> entities in it by login
}

func newState() *state {
	return &state{
		entities:     make(map[string]*Entity),
		entityByName: make(map[string]string),
		aliases:      make(map[string]*alias),
		aliasByKey:   make(map[string]string),
		entityAlias:  make(map[string]set),
		groups:       make(map[string]*group),
		groupByName:  make(map[string]string),
		entityGroups: make(map[string]set),
		groupParents: make(map[string]set),

		groupAliases:    make(map[string]*groupAlias),
		groupAliasByKey: make(map[string]string),
		groupAliasOf:    make(map[string]string),
		memberships:     make(map[string]*membership),
		externalMembers: make(map[string]set),
	}
}

// aliasKey is the index key of the alias named name on a mount. NUL cannot
// occur in an accessor, so the key is unambiguous.
func aliasKey(accessor, name string) string {
	return accessor + "\x00" + name
}

func addTo(m map[string]set, k, v string) {
	s := m[k]
	if s == nil {
		s = make(set)
		m[k] = s
	}
	s[v] = struct{}{}
}

func removeFrom(m map[string]set, k, v string) {
	if s := m[k]; s != nil {
		delete(s, v)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

func (st *state) putEntity(e *Entity) {
	if old := st.entities[e.ID]; old != nil && st.entityByName[old.Name] == e.ID {
		delete(st.entityByName, old.Name)
	}
	st.entities[e.ID] = e
	st.entityByName[e.Name] = e.ID
}

func (st *state) deleteEntity(id string) {
	if old := st.entities[id]; old != nil && st.entityByName[old.Name] == id {
		delete(st.entityByName, old.Name)
	}
	delete(st.entities, id)
}

func (st *state) putAlias(a *alias) {
	st.deleteAlias(a.ID)
	st.aliases[a.ID] = a
	st.aliasByKey[aliasKey(a.MountAccessor, a.Name)] = a.ID
	addTo(st.entityAlias, a.CanonicalID, a.ID)
}

func (st *state) deleteAlias(id string) {
	old := st.aliases[id]
	if old == nil {
		return
	}
	if k := aliasKey(old.MountAccessor, old.Name); st.aliasByKey[k] == id {
		delete(st.aliasByKey, k)
	}
	removeFrom(st.entityAlias, old.CanonicalID, id)
	delete(st.aliases, id)
}

func (st *state) putGroup(g *group) {
	st.deleteGroup(g.ID)
	st.groups[g.ID] = g
	st.groupByName[g.Name] = g.ID
	for _, e := range g.MemberEntityIDs {
		addTo(st.entityGroups, e, g.ID)
	}
	for _, m := range g.MemberGroupIDs {
		addTo(st.groupParents, m, g.ID)
	}
}

// deleteGroup removes g and the membership edges it contributes. Edges
// that name g as a member are other groups' and go with their records.
func (st *state) deleteGroup(id string) {
	old := st.groups[id]
	if old == nil {
		return
	}
	if st.groupByName[old.Name] == id {
		delete(st.groupByName, old.Name)
	}
	for _, e := range old.MemberEntityIDs {
		removeFrom(st.entityGroups, e, id)
	}
	for _, m := range old.MemberGroupIDs {
		removeFrom(st.groupParents, m, id)
	}
	delete(st.groups, id)
}

// change is one transaction's worth of record writes and deletions.
type change struct {
	entities    []*Entity
	delEntities []string
	aliases     []*alias
	delAliases  []string
	groups      []*group
	delGroups   []string

	groupAliases    []*groupAlias
	delGroupAliases []string
	memberships     []*membership
	delMemberships  []string // entity IDs
}

// The store is mounted at identity/ like any backend.
var (
	_ logical.Backend          = (*Store)(nil)
	_ logical.ExistenceChecker = (*Store)(nil)
)

// Store is the identity store. Build it with [New]; it is safe for
// concurrent use.
type Store struct {
	storage logical.Storage
	logger  *slog.Logger
	clock   logical.Clock
	mounts  MountLookup
	paths   *framework.Backend // read-only after New

	// writeMu serialises changes: a writer holds it from its checks
	// through the storage transaction to the update of memory, so it may
	// read st without mu (only writers modify st).
	writeMu sync.Mutex
	// mu guards st against the brief in-memory update that ends a change;
	// readers hold it shared. Storage I/O never happens under mu, so
	// readers are not held up by a slow transaction.
	mu sync.RWMutex
	st *state // modified only with writeMu and mu (for writing) held

	cacheMu sync.Mutex
	// policyCache memoises Policies per entity ID. Guarded by cacheMu; it
	// is cleared only while mu is held for writing, so an entry stored by
	// a reader holding mu shared always matches the current state.
	policyCache map[string][]string
	// version counts changes to st; it is bumped while mu is held for
	// writing (see [Store.Version]).
	version atomic.Uint64
}

// New builds a store on opts.Storage and loads every identity record from
// it. It starts no goroutines.
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.Storage == nil {
		return nil, errors.New("identity: no storage")
	}
	s := &Store{
		storage:     opts.Storage,
		logger:      opts.Logger,
		clock:       opts.Clock,
		mounts:      opts.Mounts,
		policyCache: make(map[string][]string),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.logger = s.logger.With("component", "identity")
	if s.clock == nil {
		s.clock = logical.SystemClock{}
	}
	if s.mounts == nil {
		s.mounts = func(string) (string, string, bool) { return "", "", false }
	}
	s.paths = s.pathTable()
	if err := s.paths.Compile(); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload replaces the in-memory state with what storage holds. New calls
// it; a server sharing storage with another calls it after the other
// changed identity records. On error the previous state is kept.
func (s *Store) Reload(ctx context.Context) error {
	st, err := s.load(ctx)
	if err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st = st
	s.invalidateLocked()
	s.logger.Debug("identity loaded", "entities", len(st.entities), "aliases", len(st.aliases), "groups", len(st.groups))
	return nil
}

func (s *Store) load(ctx context.Context) (*state, error) {
	st := newState()
	err := loadAll(ctx, s.storage, entityPrefix, func(e *Entity) {
		st.putEntity(e)
	})
	if err == nil {
		err = loadAll(ctx, s.storage, aliasPrefix, func(a *alias) {
			st.putAlias(a)
		})
	}
	if err == nil {
		err = loadAll(ctx, s.storage, groupPrefix, func(g *group) {
			st.putGroup(g)
		})
	}
	if err == nil {
		err = loadAll(ctx, s.storage, groupAliasPrefix, func(a *groupAlias) {
			st.putGroupAlias(a)
		})
	}
	if err == nil {
		err = loadAll(ctx, s.storage, membershipPrefix, func(m *membership) {
			st.putMembership(m)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return st, nil
}

// loadAll decodes every record under prefix and hands it to put.
func loadAll[T any](ctx context.Context, stg logical.Storage, prefix string, put func(*T)) error {
	keys, err := stg.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") {
			continue
		}
		e, err := stg.Get(ctx, prefix+k)
		if err != nil {
			return fmt.Errorf("read %s%s: %w", prefix, k, err)
		}
		if e == nil {
			continue
		}
		v := new(T)
		if err := json.Unmarshal(e.Value, v); err != nil {
			return fmt.Errorf("decode %s%s: %w", prefix, k, err)
		}
		put(v)
	}
	return nil
}

// commitLocked writes ch in one storage transaction and, when that
// succeeds, applies it to memory under mu. s.writeMu must be held.
func (s *Store) commitLocked(ctx context.Context, ch *change) error {
	var ops []logical.TxnOp
	put := func(prefix, id string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s%s: %w", prefix, id, err)
		}
		ops = append(ops, logical.TxnOp{Key: prefix + id, Value: b})
		return nil
	}
	del := func(prefix, id string) {
		ops = append(ops, logical.TxnOp{Key: prefix + id, Delete: true})
	}
	for _, e := range ch.entities {
		if err := put(entityPrefix, e.ID, e); err != nil {
			return err
		}
	}
	for _, a := range ch.aliases {
		if err := put(aliasPrefix, a.ID, a); err != nil {
			return err
		}
	}
	for _, g := range ch.groups {
		if err := put(groupPrefix, g.ID, g); err != nil {
			return err
		}
	}
	for _, a := range ch.groupAliases {
		if err := put(groupAliasPrefix, a.ID, a); err != nil {
			return err
		}
	}
	for _, m := range ch.memberships {
		if err := put(membershipPrefix, m.EntityID, m); err != nil {
			return err
		}
	}
	for _, id := range ch.delEntities {
		del(entityPrefix, id)
	}
	for _, id := range ch.delGroupAliases {
		del(groupAliasPrefix, id)
	}
	for _, id := range ch.delMemberships {
		del(membershipPrefix, id)
	}
	for _, id := range ch.delAliases {
		del(aliasPrefix, id)
	}
	for _, id := range ch.delGroups {
		del(groupPrefix, id)
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.storage.Txn(ctx, ops); err != nil {
		return fmt.Errorf("identity: write %d records: %w", len(ops), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	for _, e := range ch.entities {
		st.putEntity(e)
	}
	for _, a := range ch.aliases {
		st.putAlias(a)
	}
	for _, g := range ch.groups {
		st.putGroup(g)
	}
	for _, a := range ch.groupAliases {
		st.putGroupAlias(a)
	}
	for _, m := range ch.memberships {
		st.putMembership(m)
	}
	for _, id := range ch.delAliases {
		st.deleteAlias(id)
	}
	for _, id := range ch.delGroupAliases {
		st.deleteGroupAlias(id)
	}
	for _, id := range ch.delMemberships {
		st.deleteMembership(id)
	}
	for _, id := range ch.delGroups {
		st.deleteGroup(id)
	}
	for _, id := range ch.delEntities {
		st.deleteEntity(id)
	}
	s.invalidateLocked()
	return nil
}

// invalidateLocked forgets memoised answers. s.mu must be held for
// writing.
func (s *Store) invalidateLocked() {
	s.version.Add(1)
	s.cacheMu.Lock()
	clear(s.policyCache)
	s.cacheMu.Unlock()
}

// now returns the clock's time in UTC.
func (s *Store) now() time.Time {
	return s.clock.Now().UTC()
}

// newEntityIDLocked returns a fresh entity ID and an unused default name
// ("entity_" and the ID's first 8 hex digits). s.writeMu must be held.
func (s *Store) newEntityIDLocked() (id, name string) {
	for {
		id = uuid.New()
		name = "entity_" + id[:8]
		if s.st.entities[id] == nil && s.st.entityByName[name] == "" {
			return id, name
		}
	}
}

// newGroupIDLocked is newEntityIDLocked for groups ("group_" prefix).
func (s *Store) newGroupIDLocked() (id, name string) {
	for {
		id = uuid.New()
		name = "group_" + id[:8]
		if s.st.groups[id] == nil && s.st.groupByName[name] == "" {
			return id, name
		}
	}
}

// HandleRequest serves the identity/ HTTP API; req.Path is relative to
// "identity/". Failures are [logical.Error] values of the kinds the API
// documents (400 for invalid input, 404 for a missing object, and so on),
// or untyped errors for storage failures.
func (s *Store) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	return s.paths.HandleRequest(ctx, req)
}

// Help implements [logical.Helper] from the path table.
func (s *Store) Help(path string) (*logical.Help, error) { return s.paths.Help(path) }

// ExistenceCheck implements [logical.ExistenceChecker] so that core can
// tell creating an entity or group by ID or name from updating it.
func (s *Store) ExistenceCheck(ctx context.Context, req *logical.Request) (exists, handled bool, err error) {
	return s.paths.ExistenceCheck(ctx, req)
}
