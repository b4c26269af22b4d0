package barrier

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Rotation defaults; see the package documentation.
const (
	// DefaultRotateAfter is the number of encryptions after which the
	// active term is replaced automatically. It is also the largest value
	// [Options.RotateAfter] may take.
	DefaultRotateAfter uint64 = 1 << 30
	// DefaultReserveBatch is how many encryptions each keyring write
	// reserves for the active term.
	DefaultReserveBatch uint64 = 1 << 20
)

// Barrier errors. Match them with errors.Is.
var (
	// ErrSealed is returned by every storage operation, Rotate, KeyInfo
	// and RootKey while the barrier is sealed.
	ErrSealed = errors.New("barrier is sealed")
	// ErrBadKey is returned by Unseal for a wrong root key. It never says
	// which step failed.
	ErrBadKey = errors.New("invalid root key")
	// ErrNotInitialized is returned by Unseal when there is no keyring.
	ErrNotInitialized = errors.New("barrier is not initialized")
	// ErrAlreadyInitialized is returned by Initialize when a keyring exists.
	ErrAlreadyInitialized = errors.New("barrier is already initialized")
	// ErrReservedKey is returned for operations on the keyring's and the
	// seal's physical keys.
	ErrReservedKey = errors.New("storage key is reserved")
)

// KeyInfo describes the active key term.
type KeyInfo struct {
	// Term numbers the key; the first is 1.
	Term uint32
	// InstallTime is when the term was created.
	InstallTime time.Time
	// Encryptions is an upper bound of the values encrypted under the
	// term, including a reserve for earlier runs (see the package
	// documentation).
	Encryptions uint64
}

// Options tune a [Barrier]. The zero value gives the defaults.
type Options struct {
	// RotateAfter is the encryption count at which the active term is
	// rotated. Zero, or anything above DefaultRotateAfter, means
	// DefaultRotateAfter: the option can only make rotation earlier.
	RotateAfter uint64
	// ReserveBatch is how many encryptions a keyring write reserves.
	// Zero means DefaultReserveBatch.
	ReserveBatch uint64
	// Now returns the current time for install times; nil means time.Now.
	Now func() time.Time
}

// Barrier encrypts values on their way to a physical storage. It
// implements [storage.Storage] and is safe for concurrent use. A new
// Barrier is sealed.
type Barrier struct {
	phys         storage.Storage
	rotateAfter  uint64
	reserveBatch uint64
	now          func() time.Time

	mu      sync.RWMutex
	rootKey []byte              // guarded by mu; nil while sealed
	terms   map[uint32]*termKey // guarded by mu; nil while sealed
	active  *termKey            // guarded by mu; nil while sealed
}

var _ storage.Storage = (*Barrier)(nil)

// New returns a sealed barrier over phys with the default options.
func New(phys storage.Storage) *Barrier {
	return NewWithOptions(phys, Options{})
}

// NewWithOptions returns a sealed barrier over phys.
func NewWithOptions(phys storage.Storage, opts Options) *Barrier {
	b := &Barrier{
		phys:         phys,
		rotateAfter:  opts.RotateAfter,
		reserveBatch: opts.ReserveBatch,
		now:          opts.Now,
	}
	if b.rotateAfter == 0 || b.rotateAfter > DefaultRotateAfter {
		b.rotateAfter = DefaultRotateAfter
	}
	if b.reserveBatch == 0 {
		b.reserveBatch = DefaultReserveBatch
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// GenerateKey returns [KeySize] random bytes from crypto/rand, suitable as
// a root, unseal or data key.
func GenerateKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("barrier: generate key: %w", err)
	}
	return key, nil
}

// Initialized reports whether a keyring exists in physical storage.
func (b *Barrier) Initialized(ctx context.Context) (bool, error) {
	e, err := b.phys.Get(ctx, KeyringPath)
	if err != nil {
		return false, fmt.Errorf("barrier: read keyring: %w", err)
	}
	return e != nil, nil
}

// Initialize creates a keyring with term 1 and writes it, encrypted with
// rootKey ([KeySize] bytes), at [KeyringPath]. It returns
// [ErrAlreadyInitialized] if a keyring exists. The barrier stays sealed;
// call Unseal with the same root key. rootKey is not retained. Two
// barriers initializing the same storage at once are not detected: the
// caller must serialize initialization.
func (b *Barrier) Initialize(ctx context.Context, rootKey []byte) error {
	if len(rootKey) != KeySize {
		return fmt.Errorf("barrier: root key is %d bytes, want %d", len(rootKey), KeySize)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ok, err := b.Initialized(ctx)
	if err != nil {
		return err
	}
	if ok {
		return ErrAlreadyInitialized
	}
	key, err := GenerateKey()
	if err != nil {
		return err
	}
	defer clear(key)
	kr := &keyringJSON{
		ActiveTerm: 1,
		RootKey:    rootKey,
		Keys:       []termJSON{{Term: 1, Key: key, InstallTime: b.now().UTC(), Reserved: min(b.reserveBatch, b.rotateAfter)}},
	}
	return b.persist(ctx, rootKey, kr)
}

// Unseal decrypts the keyring with rootKey and makes the barrier usable. A
// wrong root key returns [ErrBadKey] and leaves the barrier as it was;
// without a keyring it returns [ErrNotInitialized]. Unsealing an unsealed
// barrier checks rootKey and changes nothing. rootKey is not retained (the
// barrier keeps the copy stored in the keyring).
func (b *Barrier) Unseal(ctx context.Context, rootKey []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active != nil {
		if subtle.ConstantTimeCompare(b.rootKey, rootKey) != 1 {
			return ErrBadKey
		}
		return nil
	}
	if len(rootKey) != KeySize {
		return ErrBadKey
	}
	kr, terms, err := b.loadKeyring(ctx, rootKey)
	if err != nil {
		return err
	}
	b.rootKey = kr.RootKey
	b.terms = terms
	b.active = terms[kr.ActiveTerm]
	return nil
}

// Reload re-reads the keyring from physical storage and decrypts it with
// the root key the barrier holds, replacing the terms in memory. A node
// that shares its storage with another (a high-availability standby) calls
// it when the other node rotated the key or reserved more encryptions, so
// that it can read values written under new terms and, once it writes
// itself, never reuses a reservation. It returns [ErrSealed] while sealed
// and leaves the barrier as it was on any failure; a keyring that the held
// root key does not open gives [ErrBadKey].
func (b *Barrier) Reload(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active == nil {
		return ErrSealed
	}
	kr, terms, err := b.loadKeyring(ctx, b.rootKey)
	if err != nil {
		return err
	}
	for _, t := range b.terms {
		clear(t.key)
		t.aead = nil
	}
	// The keyring holds the same root key (validKeyring checked it);
	// keep ours and drop the decoded copy.
	clear(kr.RootKey)
	b.terms = terms
	b.active = terms[kr.ActiveTerm]
	return nil
}

// loadKeyring reads the stored keyring, decrypts it with rootKey and
// returns it with its terms ready to use; it changes nothing in b. Each
// term counts its whole reservation as used (an earlier run, or another
// node, may have used it all), so the next encryption persists a fresh
// one.
func (b *Barrier) loadKeyring(ctx context.Context, rootKey []byte) (*keyringJSON, map[uint32]*termKey, error) {
	e, err := b.phys.Get(ctx, KeyringPath)
	if err != nil {
		return nil, nil, fmt.Errorf("barrier: read keyring: %w", err)
	}
	if e == nil {
		return nil, nil, ErrNotInitialized
	}
	kr, err := decodeKeyring(rootKey, e.Value)
	if err != nil {
		return nil, nil, err
	}
	terms := make(map[uint32]*termKey, len(kr.Keys))
	for _, k := range kr.Keys {
		aead, err := newAEAD(k.Key)
		if err != nil {
			kr.zero()
			return nil, nil, err
		}
		t := &termKey{term: k.Term, key: k.Key, installed: k.InstallTime, aead: aead, reserved: k.Reserved}
		t.encryptions.Store(k.Reserved)
		terms[k.Term] = t
	}
	return kr, terms, nil
}

// CheckKeyring reports whether ciphertext, a stored keyring (the value of
// [KeyringPath], from a snapshot for instance), opens with the root key the
// barrier holds and is well formed. It returns nil when it does,
// [ErrBadKey] when it does not (without saying why) and [ErrSealed] while
// sealed. It changes nothing; the decrypted keyring is zeroed.
func (b *Barrier) CheckKeyring(ciphertext []byte) (KeyInfo, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.active == nil {
		return KeyInfo{}, ErrSealed
	}
	kr, err := decodeKeyring(b.rootKey, ciphertext)
	if err != nil {
		return KeyInfo{}, err
	}
	defer kr.zero()
	info := KeyInfo{Term: kr.ActiveTerm}
	for _, k := range kr.Keys {
		if k.Term == kr.ActiveTerm {
			info.InstallTime = k.InstallTime
			info.Encryptions = k.Reserved
		}
	}
	return info, nil
}

// Seal forgets the keyring and zeroes the root key and every data key the
// barrier holds. The expanded AES key schedules inside the standard
// library's cipher objects cannot be zeroed; they become unreachable.
// Sealing a sealed barrier does nothing.
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range b.terms {
		clear(t.key)
		t.aead = nil
	}
	clear(b.rootKey)
	b.rootKey, b.terms, b.active = nil, nil, nil
}

// Sealed reports whether the barrier is sealed.
func (b *Barrier) Sealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.active == nil
}

// Rotate adds a new term with a fresh key, persists the keyring in one
// write and makes the new term active. Values written under older terms
// stay readable. If the write fails, nothing changes.
func (b *Barrier) Rotate(ctx context.Context) (KeyInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active == nil {
		return KeyInfo{}, ErrSealed
	}
	if err := b.rotateLocked(ctx); err != nil {
		return KeyInfo{}, err
	}
	return b.keyInfoLocked(), nil
}

// KeyInfo describes the active term.
func (b *Barrier) KeyInfo() (KeyInfo, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.active == nil {
		return KeyInfo{}, ErrSealed
	}
	return b.keyInfoLocked(), nil
}

// RootKey returns a copy of the root key, which the caller owns and should
// zero after use.
func (b *Barrier) RootKey() ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.active == nil {
		return nil, ErrSealed
	}
	return slices.Clone(b.rootKey), nil
}

// Get reads and decrypts key. It returns (nil, nil) for a missing key and
// an error wrapping [ErrCorrupt] for a value that does not authenticate.
func (b *Barrier) Get(ctx context.Context, key string) (*storage.Entry, error) {
	if reserved(key) {
		return nil, fmt.Errorf("barrier: get %q: %w", key, ErrReservedKey)
	}
	if b.Sealed() {
		return nil, ErrSealed
	}
	e, err := b.phys.Get(ctx, key)
	if err != nil || e == nil {
		return nil, err
	}
	plaintext, err := b.decrypt(key, e.Value)
	if err != nil {
		return nil, fmt.Errorf("barrier: get %q: %w", key, err)
	}
	// Physical storage gave us the entry; reuse it.
	e.Key, e.Value = key, plaintext
	return e, nil
}

// Put encrypts e.Value under the active term and stores it at e.Key. e is
// not modified or retained.
func (b *Barrier) Put(ctx context.Context, e *storage.Entry) error {
	if reserved(e.Key) {
		return fmt.Errorf("barrier: put %q: %w", e.Key, ErrReservedKey)
	}
	ciphertext, err := b.encrypt(ctx, e.Key, e.Value)
	if err != nil {
		return err
	}
	return b.phys.Put(ctx, &storage.Entry{Key: e.Key, Value: ciphertext})
}

// Delete removes key.
func (b *Barrier) Delete(ctx context.Context, key string) error {
	if reserved(key) {
		return fmt.Errorf("barrier: delete %q: %w", key, ErrReservedKey)
	}
	if b.Sealed() {
		return ErrSealed
	}
	return b.phys.Delete(ctx, key)
}

// List returns the children of prefix, as physical storage lists them, less
// the reserved keys, and less a folder that holds nothing but reserved keys
// (core/ before anything else is written there).
func (b *Barrier) List(ctx context.Context, prefix string) ([]string, error) {
	if b.Sealed() {
		return nil, ErrSealed
	}
	names, err := b.phys.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(name string) bool { return reserved(prefix + name) })
	// The folder of the reserved keys is not listed while it holds nothing
	// else.
	if i := slices.IndexFunc(names, func(name string) bool { return prefix+name == reservedFolder }); i >= 0 {
		inner, err := b.phys.List(ctx, reservedFolder)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(inner, func(n string) bool { return !reserved(reservedFolder + n) }) {
			names = slices.Delete(names, i, i+1)
		}
	}
	return names, nil
}

// Txn encrypts the values of the put operations and applies all operations
// atomically. ops is not modified.
func (b *Barrier) Txn(ctx context.Context, ops []storage.Op) error {
	if b.Sealed() {
		return ErrSealed
	}
	out := make([]storage.Op, len(ops))
	for i, op := range ops {
		if reserved(op.Entry.Key) {
			return fmt.Errorf("barrier: txn %q: %w", op.Entry.Key, ErrReservedKey)
		}
		out[i] = storage.Op{Kind: op.Kind, Entry: storage.Entry{Key: op.Entry.Key}}
		if op.Kind != storage.OpPut {
			continue
		}
		ciphertext, err := b.encrypt(ctx, op.Entry.Key, op.Entry.Value)
		if err != nil {
			return err
		}
		out[i].Entry.Value = ciphertext
	}
	return b.phys.Txn(ctx, out)
}

// encrypt seals plaintext for path under the active term, first persisting
// a new reservation or rotating when the term's budget is used up.
func (b *Barrier) encrypt(ctx context.Context, path string, plaintext []byte) ([]byte, error) {
	for {
		b.mu.RLock()
		t := b.active
		if t == nil {
			b.mu.RUnlock()
			return nil, ErrSealed
		}
		if t.encryptions.Add(1) <= t.reserved {
			ciphertext := seal(t.aead, t.term, path, plaintext)
			b.mu.RUnlock()
			return ciphertext, nil
		}
		b.mu.RUnlock()
		// The count just taken is lost; counts only ever err high.
		if err := b.extend(ctx, t); err != nil {
			return nil, err
		}
	}
}

// extend makes room for more encryptions after t ran out of reserve: it
// rotates when t has reached the rotation point and otherwise persists a
// larger reservation. It does nothing if another caller got there first.
func (b *Barrier) extend(ctx context.Context, t *termKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.active != t || t.encryptions.Load() <= t.reserved {
		return nil
	}
	if t.reserved >= b.rotateAfter {
		if err := b.rotateLocked(ctx); err != nil {
			return fmt.Errorf("barrier: automatic rotation: %w", err)
		}
		return nil
	}
	next := min(t.encryptions.Load()+b.reserveBatch, b.rotateAfter)
	kr := b.snapshotLocked()
	for i := range kr.Keys {
		if kr.Keys[i].Term == t.term {
			kr.Keys[i].Reserved = next
		}
	}
	if err := b.persist(ctx, b.rootKey, kr); err != nil {
		return err
	}
	t.reserved = next
	return nil
}

// decrypt opens a stored value in place (physical storage hands the caller
// ownership of it) using the term named in its header.
func (b *Barrier) decrypt(path string, ciphertext []byte) ([]byte, error) {
	term, err := parseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.active == nil {
		return nil, ErrSealed
	}
	t := b.terms[term]
	if t == nil {
		return nil, ErrCorrupt
	}
	return open(t.aead, path, ciphertext, ciphertext[HeaderSize:HeaderSize])
}

// rotateLocked adds and activates a new term. b.mu must be held
// exclusively and the barrier unsealed.
func (b *Barrier) rotateLocked(ctx context.Context) error {
	next := uint32(0)
	for term := range b.terms {
		next = max(next, term)
	}
	if next == math.MaxUint32 {
		return errors.New("barrier: key terms exhausted")
	}
	next++
	key, err := GenerateKey()
	if err != nil {
		return err
	}
	aead, err := newAEAD(key)
	if err != nil {
		clear(key)
		return err
	}
	t := &termKey{term: next, key: key, installed: b.now().UTC(), aead: aead, reserved: min(b.reserveBatch, b.rotateAfter)}
	kr := b.snapshotLocked()
	kr.ActiveTerm = next
	kr.Keys = append(kr.Keys, termJSON{Term: next, Key: key, InstallTime: t.installed, Reserved: t.reserved})
	if err := b.persist(ctx, b.rootKey, kr); err != nil {
		clear(key)
		return err
	}
	b.terms[next] = t
	b.active = t
	return nil
}

// snapshotLocked returns the in-memory keyring in its persisted form. It
// shares key slices with the barrier: never zero it. b.mu must be held.
func (b *Barrier) snapshotLocked() *keyringJSON {
	kr := &keyringJSON{ActiveTerm: b.active.term, RootKey: b.rootKey, Keys: make([]termJSON, 0, len(b.terms)+1)}
	for _, t := range b.terms {
		kr.Keys = append(kr.Keys, termJSON{Term: t.term, Key: t.key, InstallTime: t.installed, Reserved: t.reserved})
	}
	slices.SortFunc(kr.Keys, func(x, y termJSON) int { return cmp.Compare(x.Term, y.Term) })
	return kr
}

// persist encrypts kr with rootKey and writes it at KeyringPath.
func (b *Barrier) persist(ctx context.Context, rootKey []byte, kr *keyringJSON) error {
	ciphertext, err := encodeKeyring(rootKey, kr)
	if err != nil {
		return fmt.Errorf("barrier: encode keyring: %w", err)
	}
	if err := b.phys.Put(ctx, &storage.Entry{Key: KeyringPath, Value: ciphertext}); err != nil {
		return fmt.Errorf("barrier: write keyring: %w", err)
	}
	return nil
}

func (b *Barrier) keyInfoLocked() KeyInfo {
	return KeyInfo{Term: b.active.term, InstallTime: b.active.installed, Encryptions: b.active.encryptions.Load()}
}

// detachedPrefix starts the additional data of every detached value, so a
// detached ciphertext can never pass for a stored one and back.
const detachedPrefix = "detached:"

// EncryptDetached encrypts plaintext under the active term for a value that
// is kept outside storage (a batch token, for example), binding it to aad
// as stored values are bound to their key. Decrypt it with
// [Barrier.DecryptDetached] and the same aad.
func (b *Barrier) EncryptDetached(ctx context.Context, aad string, plaintext []byte) ([]byte, error) {
	return b.encrypt(ctx, detachedPrefix+aad, plaintext)
}

// DecryptDetached opens a value made by [Barrier.EncryptDetached] with the
// same aad. It does not modify ciphertext. A value that does not
// authenticate gives an error wrapping [ErrCorrupt].
func (b *Barrier) DecryptDetached(aad string, ciphertext []byte) ([]byte, error) {
	return b.decrypt(detachedPrefix+aad, slices.Clone(ciphertext))
}
