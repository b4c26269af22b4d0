package token

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Storage key prefixes, inside the barrier.
const (
	saltKey        = "sys/token/salt"
	idPrefix       = "sys/token/id/"
	accessorPrefix = "sys/token/accessors/" // keyed hash of the accessor -> accessorRef
	// legacyAccessorPrefix is the layout before accessors were hashed:
	// the accessor in clear -> the token hash. It is still read, and
	// MigrateAccessors moves it to accessorPrefix.
	legacyAccessorPrefix = "sys/token/accessor/"
	parentPrefix         = "sys/token/parent/"
	expiryPrefix         = "sys/token/expiry/"
	batchAAD             = "token/batch"
)

// Errors the store returns; match them with errors.Is.
var (
	ErrNotLoaded    = errors.New("token store not loaded")
	ErrNotRenewable = errors.New("token is not renewable")
	ErrPastMaxTTL   = errors.New("token has reached its maximum TTL")
	ErrNotFound     = errors.New("token not found")
	ErrInvalidID    = errors.New("token ID must be 1 to 256 characters without white space, not starting with the batch prefix")
)

// Crypter encrypts values kept outside storage; the barrier implements it.
type Crypter interface {
	EncryptDetached(ctx context.Context, aad string, plaintext []byte) ([]byte, error)
	DecryptDetached(aad string, ciphertext []byte) ([]byte, error)
}

// RevokeFunc is called for each token being revoked, before its records
// are deleted; it revokes what hangs off the token (leases, cubbyhole). An
// error stops the revocation and leaves the token in place.
type RevokeFunc func(ctx context.Context, hash string, e *Entry) error

// RevokeBatchFunc is [RevokeFunc] for a batch of tokens (hashes[i] is
// stored as entries[i]), called before their records are deleted in one
// storage transaction. An error stops the revocation and leaves every
// token of the batch in place.
type RevokeBatchFunc func(ctx context.Context, hashes []string, entries []*Entry) error

// Options configures a [Store].
type Options struct {
	// Storage is where tokens are kept: the barrier.
	Storage storage.Storage
	// Crypter seals batch tokens: the barrier.
	Crypter Crypter
	// Logger receives revocation and sweep failures; never token IDs.
	Logger *slog.Logger
	// OnRevoke, when set, runs for every revoked token.
	OnRevoke RevokeFunc
	// OnRevokeBatch, when set, runs instead of OnRevoke when a token tree
	// is revoked, once per batch of tokens.
	OnRevokeBatch RevokeBatchFunc
	// SweepInterval is how often Run looks for expired tokens; default 1s.
	SweepInterval time.Duration
}

// Store keeps tokens.
type Store struct {
	st       storage.Storage
	crypter  Crypter
	logger   *slog.Logger
	onRevoke RevokeFunc
	onBatch  RevokeBatchFunc
	interval time.Duration
	batch    int // tokens a revocation transaction deletes: revokeBatchSize

	locks [64]sync.Mutex // serialize changes to one token, by hash
	seed  maphash.Seed
	count atomic.Int64 // stored service tokens, for metrics

	mu    sync.RWMutex
	salt  []byte            // guarded by mu; nil while not loaded
	cache map[string]*Entry // guarded by mu; by hash; entries are never modified

	live liveIndex // live tokens for the access directory; built on first use
}

// New returns a store. Call Load after unseal.
func New(opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	return &Store{
		st:       opts.Storage,
		crypter:  opts.Crypter,
		logger:   opts.Logger.With("component", "token"),
		onRevoke: opts.OnRevoke,
		onBatch:  opts.OnRevokeBatch,
		interval: opts.SweepInterval,
		batch:    revokeBatchSize,
		seed:     maphash.MakeSeed(),
	}
}

// Load reads (or on first use creates) the salt. It is called on unseal.
func (s *Store) Load(ctx context.Context) error {
	e, err := s.st.Get(ctx, saltKey)
	if err != nil {
		return fmt.Errorf("read token salt: %w", err)
	}
	var salt []byte
	if e != nil {
		salt = e.Value
	} else {
		salt = make([]byte, 32)
		rand.Read(salt)
		if err := s.st.Put(ctx, &storage.Entry{Key: saltKey, Value: salt}); err != nil {
			return fmt.Errorf("write token salt: %w", err)
		}
	}
	accessors, err := s.st.List(ctx, accessorPrefix)
	if err != nil {
		return fmt.Errorf("count tokens: %w", err)
	}
	legacy, err := s.st.List(ctx, legacyAccessorPrefix)
	if err != nil {
		return fmt.Errorf("count tokens: %w", err)
	}
	s.count.Store(int64(len(accessors) + len(legacy)))
	s.mu.Lock()
	s.salt = salt
	s.cache = make(map[string]*Entry)
	s.mu.Unlock()
	s.live.drop()
	return nil
}

// Count returns the number of stored service tokens.
func (s *Store) Count() int64 { return s.count.Load() }

// Reset forgets the salt and the cache; it is called on seal.
func (s *Store) Reset() {
	s.mu.Lock()
	clear(s.salt)
	s.salt = nil
	s.cache = nil
	s.mu.Unlock()
	s.live.drop()
}

// Invalidate drops the cached entry of the token stored under hash, so the
// next lookup reads storage again. A node of a cluster calls it when
// another node changed or revoked that token. It is safe for concurrent
// use and does nothing for a token that is not cached.
func (s *Store) Invalidate(hash string) {
	s.setCache(hash, nil)
	s.live.invalidate(hash)
}

// InvalidateAll drops every cached entry (when changes may have been
// missed). It keeps the salt.
func (s *Store) InvalidateAll() {
	s.mu.Lock()
	if s.cache != nil {
		s.cache = make(map[string]*Entry)
	}
	s.mu.Unlock()
	s.live.drop()
}

// Hash returns the salted hash under which a service token is stored. It
// is not secret in itself but must not be given to clients.
func (s *Store) Hash(id ID) (string, error) {
	s.mu.RLock()
	salt := s.salt
	s.mu.RUnlock()
	if salt == nil {
		return "", ErrNotLoaded
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// accessorKey returns the storage key of accessor's index entry: a keyed
// hash, with the salt that hashes token IDs, so that storage keys do not
// show accessors. The "accessor/" prefix keeps it apart from token hashes.
func (s *Store) accessorKey(accessor string) (string, error) {
	s.mu.RLock()
	salt := s.salt
	s.mu.RUnlock()
	if salt == nil {
		return "", ErrNotLoaded
	}
	m := hmac.New(sha256.New, salt)
	m.Write([]byte("accessor/"))
	m.Write([]byte(accessor))
	return accessorPrefix + hex.EncodeToString(m.Sum(nil)), nil
}

// accessorRef is an accessor's index entry. The accessor is kept inside
// the (barrier-encrypted) value, since the key is only its hash and
// listing needs it.
type accessorRef struct {
	Accessor string `json:"accessor"`
	Hash     string `json:"token_hash"`

	key string // the storage key it was read from; not stored
}

// accessorEntry builds the index entry for accessor, pointing at hash.
func (s *Store) accessorEntry(accessor, hash string) (storage.Entry, error) {
	key, err := s.accessorKey(accessor)
	if err != nil {
		return storage.Entry{}, err
	}
	buf, err := json.Marshal(accessorRef{Accessor: accessor, Hash: hash})
	if err != nil {
		return storage.Entry{}, fmt.Errorf("encode accessor entry: %w", err)
	}
	return storage.Entry{Key: key, Value: buf}, nil
}

// readAccessorRef reads the index entry at key, in either layout; nil
// when there is none.
func (s *Store) readAccessorRef(ctx context.Context, key string) (*accessorRef, error) {
	se, err := s.st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read accessor: %w", err)
	}
	if se == nil {
		return nil, nil
	}
	if a, ok := strings.CutPrefix(key, legacyAccessorPrefix); ok {
		return &accessorRef{Accessor: a, Hash: string(se.Value), key: key}, nil
	}
	r := &accessorRef{key: key}
	if err := json.Unmarshal(se.Value, r); err != nil {
		return nil, fmt.Errorf("decode accessor entry: %w", err)
	}
	return r, nil
}

// accessorRefs reads every accessor index entry, in both layouts.
func (s *Store) accessorRefs(ctx context.Context) ([]*accessorRef, error) {
	var refs []*accessorRef
	for _, prefix := range []string{accessorPrefix, legacyAccessorPrefix} {
		names, err := s.st.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list accessors: %w", err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, "/") {
				continue
			}
			r, err := s.readAccessorRef(ctx, prefix+n)
			if err != nil {
				return nil, err
			}
			if r != nil {
				refs = append(refs, r)
			}
		}
	}
	return refs, nil
}

// MigrateAccessors moves accessor index entries from the old layout (the
// accessor in clear in the storage key) to the keyed-hash layout, one
// transaction per entry, and returns how many it moved. Lookups read both
// layouts, so an interrupted migration loses nothing; it writes, so only
// the active node calls it, after Load.
func (s *Store) MigrateAccessors(ctx context.Context) (int, error) {
	names, err := s.st.List(ctx, legacyAccessorPrefix)
	if err != nil {
		return 0, fmt.Errorf("list old accessor entries: %w", err)
	}
	n := 0
	for _, a := range names {
		if strings.HasSuffix(a, "/") {
			continue
		}
		r, err := s.readAccessorRef(ctx, legacyAccessorPrefix+a)
		if err != nil {
			return n, err
		}
		if r == nil {
			continue
		}
		ne, err := s.accessorEntry(r.Accessor, r.Hash)
		if err != nil {
			return n, err
		}
		ops := []storage.Op{
			{Kind: storage.OpPut, Entry: ne},
			{Kind: storage.OpDelete, Entry: storage.Entry{Key: r.key}},
		}
		if err := s.st.Txn(ctx, ops); err != nil {
			return n, fmt.Errorf("move accessor entry: %w", err)
		}
		n++
	}
	return n, nil
}

func (s *Store) lock(hash string) *sync.Mutex {
	return &s.locks[maphash.String(s.seed, hash)%uint64(len(s.locks))]
}

func (s *Store) cached(hash string) (*Entry, bool) {
	s.mu.RLock()
	e, ok := s.cache[hash]
	s.mu.RUnlock()
	return e, ok
}

func (s *Store) setCache(hash string, e *Entry) {
	s.mu.Lock()
	if s.cache != nil {
		if e == nil {
			delete(s.cache, hash)
		} else {
			s.cache[hash] = e
		}
	}
	s.mu.Unlock()
}

// validID checks a caller-chosen token ID.
func validID(id ID) error {
	if len(id) < 1 || len(id) > 256 || strings.ContainsAny(string(id), " \t\r\n") || strings.HasPrefix(string(id), BatchPrefix) {
		return ErrInvalidID
	}
	return nil
}

func expiryKey(t time.Time, hash string) string {
	return fmt.Sprintf("%s%012d/%s", expiryPrefix, t.Unix(), hash)
}

// Create stores e under a new token ID (or under id, when it is not empty,
// as dev mode's fixed root token) and returns the ID and its hash (empty
// for batch tokens). It fills in the accessor and the creation time.
// Batch tokens are not stored: the returned ID carries the entry.
func (s *Store) Create(ctx context.Context, id ID, e *Entry, now time.Time) (ID, string, error) {
	e.CreationTime = now.UTC()
	if e.Type == "" {
		e.Type = TypeService
	}
	if e.CreationTTL == 0 {
		e.CreationTTL = e.TTL
	}
	if e.Type == TypeBatch {
		if id != "" {
			return "", "", errors.New("batch tokens cannot have a chosen ID")
		}
		buf, err := json.Marshal(e)
		if err != nil {
			return "", "", fmt.Errorf("encode batch token: %w", err)
		}
		ct, err := s.crypter.EncryptDetached(ctx, batchAAD, buf)
		if err != nil {
			return "", "", fmt.Errorf("seal batch token: %w", err)
		}
		return ID(BatchPrefix + base64.RawURLEncoding.EncodeToString(ct)), "", nil
	}
	if id == "" {
		id = NewID()
	} else if err := validID(id); err != nil {
		return "", "", err
	}
	h, err := s.Hash(id)
	if err != nil {
		return "", "", err
	}
	e.Accessor = newAccessor()
	buf, err := json.Marshal(e)
	if err != nil {
		return "", "", fmt.Errorf("encode token entry: %w", err)
	}
	ae, err := s.accessorEntry(e.Accessor, h)
	if err != nil {
		return "", "", err
	}
	ops := []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: idPrefix + h, Value: buf}},
		{Kind: storage.OpPut, Entry: ae},
	}
	if e.Parent != "" {
		ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: parentPrefix + e.Parent + "/" + h, Value: []byte{}}})
	}
	if exp := e.ExpireTime(); !exp.IsZero() {
		ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: expiryKey(exp, h), Value: []byte{}}})
	}
	if err := s.st.Txn(ctx, ops); err != nil {
		return "", "", fmt.Errorf("store token: %w", err)
	}
	s.setCache(h, e)
	s.live.put(h, e)
	s.count.Add(1)
	return id, h, nil
}

// Lookup returns the entry for id and its hash, or a nil entry when there
// is none, it has expired at now, or its uses are spent. A batch token
// whose parent is gone is treated as gone too. The returned entry is
// shared: callers must not modify it.
func (s *Store) Lookup(ctx context.Context, id ID, now time.Time) (*Entry, string, error) {
	if id == "" || len(id) > 4096 {
		return nil, "", nil
	}
	if strings.HasPrefix(string(id), BatchPrefix) {
		e, err := s.lookupBatch(ctx, id, now)
		return e, "", err
	}
	if len(id) > 256 {
		return nil, "", nil
	}
	h, err := s.Hash(id)
	if err != nil {
		return nil, "", err
	}
	e, err := s.LookupHash(ctx, h, now)
	return e, h, err
}

func (s *Store) lookupBatch(ctx context.Context, id ID, now time.Time) (*Entry, error) {
	ct, err := base64.RawURLEncoding.DecodeString(string(id)[len(BatchPrefix):])
	if err != nil {
		return nil, nil
	}
	pt, err := s.crypter.DecryptDetached(batchAAD, ct)
	if err != nil {
		// Forged, tampered or from another server: simply not a token.
		return nil, nil
	}
	e := new(Entry)
	if err := json.Unmarshal(pt, e); err != nil {
		return nil, nil
	}
	if e.Expired(now) {
		return nil, nil
	}
	if e.Parent != "" {
		p, err := s.LookupHash(ctx, e.Parent, now)
		if err != nil || p == nil {
			return nil, err
		}
	}
	return e, nil
}

// LookupHash is Lookup by the stored hash.
func (s *Store) LookupHash(ctx context.Context, hash string, now time.Time) (*Entry, error) {
	e, ok := s.cached(hash)
	if !ok {
		var err error
		if e, err = s.load(ctx, hash); err != nil || e == nil {
			return nil, err
		}
		s.setCache(hash, e)
	}
	if e.Expired(now) || e.NumUses < 0 {
		return nil, nil
	}
	return e, nil
}

// load reads a service token entry from storage.
func (s *Store) load(ctx context.Context, hash string) (*Entry, error) {
	se, err := s.st.Get(ctx, idPrefix+hash)
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	if se == nil {
		return nil, nil
	}
	e := new(Entry)
	if err := json.Unmarshal(se.Value, e); err != nil {
		return nil, fmt.Errorf("decode token entry: %w", err)
	}
	return e, nil
}

// LookupAccessor returns the live token with accessor and its hash.
func (s *Store) LookupAccessor(ctx context.Context, accessor string, now time.Time) (*Entry, string, error) {
	if accessor == "" || strings.ContainsAny(accessor, "/\x00") || len(accessor) > 256 {
		return nil, "", nil
	}
	key, err := s.accessorKey(accessor)
	if err != nil {
		return nil, "", err
	}
	r, err := s.readAccessorRef(ctx, key)
	if err == nil && r == nil {
		// Not migrated yet (a standby, or an interrupted migration).
		r, err = s.readAccessorRef(ctx, legacyAccessorPrefix+accessor)
	}
	if err != nil || r == nil || r.Accessor != accessor {
		return nil, "", err
	}
	e, err := s.LookupHash(ctx, r.Hash, now)
	return e, r.Hash, err
}

// Use takes one use of a token with limited uses. It reports whether that
// was the last use, in which case the caller revokes the token once the
// request is done. A token with unlimited uses is not written to.
func (s *Store) Use(ctx context.Context, hash string) (last bool, err error) {
	l := s.lock(hash)
	l.Lock()
	defer l.Unlock()
	e, err := s.load(ctx, hash)
	if err != nil {
		return false, err
	}
	if e == nil || e.NumUses < 0 {
		return false, ErrNotFound
	}
	if e.NumUses == 0 {
		return false, nil
	}
	e.NumUses--
	if e.NumUses == 0 {
		e.NumUses = -1
		last = true
	}
	if err := s.putLocked(ctx, hash, e, nil); err != nil {
		return false, err
	}
	return last, nil
}

// putLocked writes e (and extra operations) and refreshes the cache. The
// caller holds the token's lock.
func (s *Store) putLocked(ctx context.Context, hash string, e *Entry, extra []storage.Op) error {
	buf, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode token entry: %w", err)
	}
	ops := append([]storage.Op{{Kind: storage.OpPut, Entry: storage.Entry{Key: idPrefix + hash, Value: buf}}}, extra...)
	if err := s.st.Txn(ctx, ops); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	s.setCache(hash, e)
	s.live.put(hash, e)
	return nil
}

// Renew extends a token's TTL by increment (or its creation TTL when
// increment is zero; its period, for a periodic token), capped by its
// maximum TTLs, and returns the renewed entry.
func (s *Store) Renew(ctx context.Context, hash string, increment time.Duration, now time.Time) (*Entry, error) {
	l := s.lock(hash)
	l.Lock()
	defer l.Unlock()
	old, err := s.load(ctx, hash)
	if err != nil {
		return nil, err
	}
	if old == nil || old.Expired(now) || old.NumUses < 0 {
		return nil, ErrNotFound
	}
	if !old.Renewable || old.Type == TypeBatch {
		return nil, ErrNotRenewable
	}
	if old.TTL == 0 {
		return old, nil // never expires: nothing to extend
	}
	e := old.clone()
	ttl := increment
	switch {
	case e.Period > 0:
		ttl = e.Period
	case ttl <= 0:
		ttl = e.CreationTTL
	}
	expire := now.Add(ttl)
	var limit time.Time
	if e.MaxTTL > 0 && e.Period == 0 {
		limit = e.CreationTime.Add(e.MaxTTL)
	}
	if e.ExplicitMaxTTL > 0 {
		if l := e.CreationTime.Add(e.ExplicitMaxTTL); limit.IsZero() || l.Before(limit) {
			limit = l
		}
	}
	if !limit.IsZero() && expire.After(limit) {
		expire = limit
	}
	if !expire.After(now) {
		return nil, ErrPastMaxTTL
	}
	e.LastRenewal = now.UTC()
	e.TTL = expire.Sub(now)
	extra := []storage.Op{
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: expiryKey(old.ExpireTime(), hash)}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: expiryKey(e.ExpireTime(), hash), Value: []byte{}}},
	}
	if err := s.putLocked(ctx, hash, e, extra); err != nil {
		return nil, err
	}
	return e, nil
}

// Children returns the hashes of a token's direct children.
func (s *Store) Children(ctx context.Context, hash string) ([]string, error) {
	names, err := s.st.List(ctx, parentPrefix+hash+"/")
	if err != nil {
		return nil, fmt.Errorf("list child tokens: %w", err)
	}
	return names, nil
}

// Revoke revokes a token and all its descendants, deepest first, so that
// no child outlives its parent even if revocation stops half-way. See
// revoke_batch.go: the tree goes in batches of tokens, one storage
// transaction each.
func (s *Store) Revoke(ctx context.Context, hash string) error {
	levels, err := s.tree(ctx, hash)
	if err != nil {
		return err
	}
	for d := len(levels) - 1; d >= 0; d-- {
		if err := s.revokeLevel(ctx, levels[d]); err != nil {
			return err
		}
	}
	return nil
}

// RevokeOrphan revokes a token but keeps its children, which become
// orphans.
func (s *Store) RevokeOrphan(ctx context.Context, hash string) error {
	children, err := s.Children(ctx, hash)
	if err != nil {
		return err
	}
	for _, c := range children {
		c = strings.TrimSuffix(c, "/")
		if err := s.orphan(ctx, hash, c); err != nil {
			return err
		}
	}
	return s.revokeOne(ctx, hash)
}

// orphan detaches child from parent.
func (s *Store) orphan(ctx context.Context, parent, child string) error {
	l := s.lock(child)
	l.Lock()
	defer l.Unlock()
	e, err := s.load(ctx, child)
	if err != nil {
		return err
	}
	link := storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: parentPrefix + parent + "/" + child}}
	if e == nil {
		return s.st.Txn(ctx, []storage.Op{link})
	}
	e.Parent = ""
	return s.putLocked(ctx, child, e, []storage.Op{link})
}

// revokeOne revokes one token whose children are already gone.
func (s *Store) revokeOne(ctx context.Context, hash string) error {
	l := s.lock(hash)
	l.Lock()
	defer l.Unlock()
	e, err := s.load(ctx, hash)
	if err != nil {
		return err
	}
	if e == nil {
		s.setCache(hash, nil)
		return nil
	}
	if s.onRevoke != nil {
		if err := s.onRevoke(ctx, hash, e); err != nil {
			return fmt.Errorf("revoke what the token holds: %w", err)
		}
	}
	akey, err := s.accessorKey(e.Accessor)
	if err != nil {
		return err
	}
	ops := []storage.Op{
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: idPrefix + hash}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: akey}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: legacyAccessorPrefix + e.Accessor}},
	}
	if e.Parent != "" {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: parentPrefix + e.Parent + "/" + hash}})
	}
	if exp := e.ExpireTime(); !exp.IsZero() {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: expiryKey(exp, hash)}})
	}
	if err := s.st.Txn(ctx, ops); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	s.setCache(hash, nil)
	s.live.put(hash, nil)
	s.count.Add(-1)
	return nil
}

// Accessors lists the accessors of all stored tokens, sorted. It reads
// every index entry, since storage keys hold only hashes.
func (s *Store) Accessors(ctx context.Context) ([]string, error) {
	refs, err := s.accessorRefs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.Accessor)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// RevokeByMount revokes every token issued by the auth mount with the
// given accessor (with their children).
func (s *Store) RevokeByMount(ctx context.Context, mountAccessor string, now time.Time) error {
	return s.RevokeWhere(ctx, now, func(e *Entry) bool { return e.MountAccessor == mountAccessor })
}

// RevokeByPathPrefix revokes every token whose creation path starts with
// prefix, such as "auth/token/create/deployer" or "auth/approle/".
func (s *Store) RevokeByPathPrefix(ctx context.Context, prefix string, now time.Time) error {
	return s.RevokeWhere(ctx, now, func(e *Entry) bool { return strings.HasPrefix(e.Path, prefix) })
}

// RevokeWhere revokes every live token for which match is true (with its
// children). It scans all tokens, so it is meant for rare operator
// actions, not for requests.
func (s *Store) RevokeWhere(ctx context.Context, now time.Time, match func(*Entry) bool) error {
	refs, err := s.accessorRefs(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range refs {
		e, err := s.LookupHash(ctx, r.Hash, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e != nil && match(e) {
			errs = append(errs, s.Revoke(ctx, r.Hash))
		}
	}
	return errors.Join(errs...)
}

// Each calls fn with every live service token and its hash, in no
// particular order; an error from fn stops the walk and is returned. It
// scans all tokens, so it is meant for rare operator actions (incident
// containment), not for requests.
func (s *Store) Each(ctx context.Context, now time.Time, fn func(hash string, e *Entry) error) error {
	refs, err := s.accessorRefs(ctx)
	if err != nil {
		return err
	}
	for _, r := range refs {
		e, err := s.LookupHash(ctx, r.Hash, now)
		if err != nil {
			return err
		}
		if e == nil {
			continue
		}
		if err := fn(r.Hash, e); err != nil {
			return err
		}
	}
	return nil
}
