package leaks

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// MinValueLen is the shortest value indexed, in bytes: shorter strings
// ("true", "admin", port numbers) are too common to be worth reporting
// and too easy to guess.
const MinValueLen = 8

// DefaultMaxWait is the default of [Options.MaxWait].
const DefaultMaxWait = 30 * time.Second

// DefaultMaxPending is the default of [Options.MaxPending].
const DefaultMaxPending = 100_000

// MaxPlaces is the most places a check returns for one value: a value
// held by more secrets (or versions) than that answers MaxPlaces of them
// (the newest-named first is not promised: any MaxPlaces), so that one
// common value cannot make every check of it allocate and answer
// thousands of places.
const MaxPlaces = 64

// keyEntry is where the index key lives in the index's storage.
const keyEntry = "index-key"

// Fingerprint is the keyed fingerprint of one value.
type Fingerprint [16]byte

// Mount is one mount whose values are indexed.
type Mount struct {
	// Accessor identifies the mount across remounts.
	Accessor string
	// Path is the mount point now, "secret/".
	Path string
	// Source reads the mount's secrets.
	Source logical.ValueSource
}

// Mounts lists the mounts to index: those whose backend is a
// [logical.ValueSource]. Core implements it.
type Mounts interface {
	ValueMounts() []Mount
}

// Options configures an [Index].
type Options struct {
	// Storage holds the index key; it must be behind the barrier.
	Storage logical.Storage
	// Mounts lists the mounts to index.
	Mounts Mounts
	// Logger logs builds; nil discards.
	Logger *slog.Logger
	// MaxPending bounds the changed secrets waiting for the next check;
	// 0 means [DefaultMaxPending].
	MaxPending int
	// MaxWait bounds how long a check waits for the index to be brought
	// up to date (a build, mostly) before it answers [ErrBuilding]; 0
	// means [DefaultMaxWait].
	MaxWait time.Duration
}

// ErrBuilding is the error of a check that found the index still being
// built (or brought up to date) after [Options.MaxWait], or whose caller
// gave up first: an [logical.ErrUnavailable], 503 with Retry-After. The
// work goes on in the index's goroutine; a later check finds it done.
var ErrBuilding = &logical.UnavailableError{Msg: "the leak index is still building; try again later", RetryAfter: 5 * time.Second}

// Place is one place a checked value lives.
type Place struct {
	// MountAccessor and MountPath name the mount.
	MountAccessor string
	MountPath     string
	// Kind is "kv" or "database-static-role".
	Kind string
	// Path is the secret's path relative to the mount ("app/db").
	Path string
	// ReadPath is the full request path whose read capability shows the
	// value ("secret/data/app/db").
	ReadPath string
	// Field names the value within the secret.
	Field string
	// Version is the version holding it (0: unversioned).
	Version int
	// Current is true when that version is the secret's current one.
	Current bool
	// Trashed is true when the secret is deleted but recoverable (KV's
	// trash): the value is not current, and comes back with recover/.
	Trashed bool
}

// secretID names one secret: its mount's accessor and its key in the
// mount's [logical.ValueSource].
type secretID struct{ accessor, key string }

// secret is an indexed secret: where it is, and the fingerprints of its
// values, so that they can be taken out when it changes.
type secret struct {
	id    secretID
	shape *shape
	fps   []fpVersion
}

// fpVersion is one value of a secret as the index holds it: its
// fingerprint in one version. A secret holds each at most once.
type fpVersion struct {
	fp      Fingerprint
	version int32
}

// shape is how a secret's kind, path and read path derive from its key:
// the path is pathPrefix+key and the read path readPrefix+key ("" and
// "data/" for KV v2, "static-creds/" twice for a static role), so that
// secrets of one kind of mount share one shape. A secret whose paths do
// not end in its key has a shape of its own, with whole set.
type shape struct {
	kind                   string
	pathPrefix, readPrefix string
	whole                  bool
	// trashed marks secrets deleted with a recovery window (no value
	// current); kept here, shared, rather than in each secret.
	trashed bool
}

// path is s's path relative to its mount.
func (s *secret) path() string {
	if s.shape.whole {
		return s.shape.pathPrefix
	}
	return s.shape.pathPrefix + s.id.key
}

// readPath is s's read path relative to its mount.
func (s *secret) readPath() string {
	if s.shape.whole {
		return s.shape.readPrefix
	}
	return s.shape.readPrefix + s.id.key
}

// ref is one value of a secret.
type ref struct {
	s       *secret
	field   string
	version int32
	current bool
}

// refKey names one ref of a fingerprint: a secret and a version.
type refKey struct {
	s       *secret
	version int32
}

func (r ref) key() refKey { return refKey{r.s, r.version} }

// refSet is the places of a fingerprint beyond its first, keyed by
// secret and version so that taking one out costs a map delete.
type refSet struct {
	refs map[refKey]ref
}

// mountState is what the index knows of an indexed mount.
type mountState struct {
	path   string
	source logical.ValueSource
}

// Index is the live-secret fingerprint index. Make one with [New].
type Index struct {
	opts Options
	log  *slog.Logger

	// lock (a channel of one, so that waiting for it can give up)
	// serialises refreshes and lookups and guards the fields below.
	lock    chan struct{}
	mac     hash.Hash // HMAC-SHA256 under the index key; nil until built
	mounts  map[string]mountState
	secrets map[secretID]*secret
	// byFP holds each fingerprint's first place; more holds the others
	// of the few fingerprints with several (a value in several secrets,
	// or a field unchanged across versions).
	byFP    map[Fingerprint]ref
	more    map[Fingerprint]*refSet
	nvalues int
	// names interns field names and shapes the shapes of secrets, which
	// repeat across secrets; at most maxInterned of each.
	names  map[string]string
	shapes map[shape]*shape

	pmu      sync.Mutex            // guards the fields below
	tracking bool                  // changes are recorded (a build has begun)
	overflow bool                  // more than MaxPending changes came: rebuild
	pending  map[secretID]struct{} // secrets changed since the last check

	// Refresh rounds run in one goroutine of the index's own, never in a
	// caller's: a check asks for a round and waits for it with its own
	// context. bmu guards the fields below.
	bmu     sync.Mutex
	bctx    context.Context // the rounds' context; cancelled by Reset
	bcancel context.CancelFunc
	running bool          // the goroutine runs
	stopped chan struct{} // closed when the running goroutine ends
	asked   uint64        // rounds asked for
	done    uint64        // rounds done: each covers every ask before its start
	lastErr error         // the error of the last round done
	changed chan struct{} // closed (and replaced) when a round ends
}

// New returns an empty index; it starts no goroutine and reads nothing
// until the first [Index.Check].
func New(opts Options) *Index {
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	x := &Index{opts: opts, log: log, lock: make(chan struct{}, 1), changed: make(chan struct{})}
	x.bctx, x.bcancel = context.WithCancel(context.Background())
	return x
}

// lockIndex takes the index lock.
func (x *Index) lockIndex() { x.lock <- struct{}{} }

// unlockIndex gives the index lock back.
func (x *Index) unlockIndex() { <-x.lock }

// ValuesChanged records that the secret at key of the mount with the
// given accessor may hold other values; the next check reads it again.
// Before the first build it does nothing (the build reads everything).
func (x *Index) ValuesChanged(accessor, key string) {
	x.pmu.Lock()
	defer x.pmu.Unlock()
	if !x.tracking || x.overflow {
		return
	}
	if x.pending == nil {
		x.pending = make(map[secretID]struct{})
	}
	x.pending[secretID{accessor, key}] = struct{}{}
	if len(x.pending) > x.opts.MaxPending {
		x.overflow, x.pending = true, nil
	}
}

// Reset drops the index (the server seals or changes role): it cancels
// a refresh under way and waits for the index's goroutine to end; the
// next check builds the index again.
func (x *Index) Reset() {
	x.bmu.Lock()
	x.bcancel()
	stopped := x.stopped
	running := x.running
	x.bmu.Unlock()
	if running {
		<-stopped
	}
	x.lockIndex()
	x.resetLocked()
	x.unlockIndex()
	x.bmu.Lock()
	x.bctx, x.bcancel = context.WithCancel(context.Background())
	x.done, x.lastErr = x.asked, nil
	close(x.changed) // a check still waiting (none, from core) gives up
	x.changed = make(chan struct{})
	x.bmu.Unlock()
}

func (x *Index) resetLocked() {
	x.pmu.Lock()
	x.tracking, x.overflow, x.pending = false, false, nil
	x.pmu.Unlock()
	x.mac, x.mounts, x.secrets, x.byFP, x.more, x.nvalues, x.names, x.shapes = nil, nil, nil, nil, nil, 0, nil, nil
}

// maxInterned bounds the strings an index interns.
const maxInterned = 10_000

// internLocked returns the index's copy of s, keeping s as that copy
// when there is none (and room for it).
func (x *Index) internLocked(s string) string {
	if v, ok := x.names[s]; ok {
		return v
	}
	if len(x.names) < maxInterned {
		s = strings.Clone(s) // s may be part of a larger string
		x.names[s] = s
	}
	return s
}

// Stats is the index's size.
type Stats struct {
	Secrets int
	Values  int
}

// Stats returns the index's size now (zero before the first build).
func (x *Index) Stats() Stats {
	x.lockIndex()
	defer x.unlockIndex()
	return Stats{Secrets: len(x.secrets), Values: x.nvalues}
}

// Check brings the index up to date (building it on first use, then
// reading every secret changed since the last check and following the
// mount list) and returns, for each hash (the SHA-256 of a candidate
// value), the places that value lives; nil for a value that is no live
// secret. The answer reflects every change that completed before Check
// was called.
//
// The work is done by a refresh round in the index's own goroutine; Check
// waits for it until ctx ends or [Options.MaxWait] passes, and then
// answers [ErrBuilding] while the round goes on. Other errors come from
// storage; the index is then dropped and built again by the next check.
func (x *Index) Check(ctx context.Context, hashes [][sha256.Size]byte) ([][]Place, error) {
	timer := time.NewTimer(x.opts.MaxWait)
	defer timer.Stop()
	if err := x.awaitRound(ctx, timer.C); err != nil {
		return nil, err
	}
	// The lock is free but for the moment a newer round holds it; one
	// that is long (a rebuild) makes this check give up as above.
	select {
	case x.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ErrBuilding
	case <-timer.C:
		return nil, ErrBuilding
	}
	defer x.unlockIndex()
	if x.mac == nil {
		// Dropped since the round (a Reset or a failed newer round).
		return nil, ErrBuilding
	}
	out := make([][]Place, len(hashes))
	for i := range hashes {
		fp := x.fingerprintLocked(hashes[i][:])
		first, ok := x.byFP[fp]
		if !ok {
			continue
		}
		more := x.more[fp]
		n := 1
		if more != nil {
			n = min(MaxPlaces, n+len(more.refs))
		}
		places := make([]Place, 0, n)
		places = append(places, x.placeLocked(first))
		if more != nil {
			for _, r := range more.refs {
				if len(places) == MaxPlaces {
					break
				}
				places = append(places, x.placeLocked(r))
			}
			slices.SortFunc(places, comparePlaces)
		}
		out[i] = places
	}
	return out, nil
}

// placeLocked is where r is.
func (x *Index) placeLocked(r ref) Place {
	m := x.mounts[r.s.id.accessor]
	return Place{
		MountAccessor: r.s.id.accessor, MountPath: m.path, Kind: r.s.shape.kind,
		Path: r.s.path(), ReadPath: m.path + r.s.readPath(), Field: r.field,
		Version: int(r.version), Current: r.current, Trashed: r.s.shape.trashed,
	}
}

// comparePlaces orders places by read path, then newest version first,
// then field, so that answers do not depend on map order.
func comparePlaces(a, b Place) int {
	return cmp.Or(strings.Compare(a.ReadPath, b.ReadPath), cmp.Compare(b.Version, a.Version), strings.Compare(a.Field, b.Field))
}

// awaitRound asks for a refresh round and waits until one that began
// after the ask has ended, ctx ends or timeout fires; it returns the
// round's error, or [ErrBuilding].
func (x *Index) awaitRound(ctx context.Context, timeout <-chan time.Time) error {
	x.bmu.Lock()
	x.asked++
	want := x.asked
	if !x.running {
		x.running, x.stopped = true, make(chan struct{})
		go x.run(x.bctx, x.stopped)
	}
	for x.done < want {
		ch := x.changed
		x.bmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ErrBuilding
		case <-timeout:
			return ErrBuilding
		}
		x.bmu.Lock()
	}
	err := x.lastErr
	x.bmu.Unlock()
	return err
}

// run does refresh rounds while checks ask for them, then ends; a
// cancelled ctx (Reset) ends it after the round under way, which ctx cuts
// short. A round's progress stays: a build cut short by nothing but its
// own length is never started again from zero by a later check, which
// only waits for it.
func (x *Index) run(ctx context.Context, stopped chan struct{}) {
	defer close(stopped)
	for {
		x.bmu.Lock()
		if x.done >= x.asked || ctx.Err() != nil {
			x.running = false
			x.bmu.Unlock()
			return
		}
		target := x.asked
		x.bmu.Unlock()
		x.lockIndex()
		err := x.refreshLocked(ctx)
		if err != nil {
			x.resetLocked()
		}
		x.unlockIndex()
		x.bmu.Lock()
		x.done, x.lastErr = target, err
		close(x.changed)
		x.changed = make(chan struct{})
		x.bmu.Unlock()
	}
}

// fingerprintLocked is the index's fingerprint of sum, a value's SHA-256.
func (x *Index) fingerprintLocked(sum []byte) Fingerprint {
	x.mac.Reset()
	x.mac.Write(sum)
	var full [sha256.Size]byte
	var fp Fingerprint
	copy(fp[:], x.mac.Sum(full[:0]))
	return fp
}

// refreshLocked builds the index if it has none, follows the mount list
// and reads the pending secrets again.
func (x *Index) refreshLocked(ctx context.Context) error {
	for {
		x.pmu.Lock()
		overflow := x.overflow
		x.pmu.Unlock()
		if overflow {
			x.log.Info("leak index: too many changes between checks; building it again")
			x.resetLocked()
		}
		err := x.buildAndDrainLocked(ctx)
		if !errors.Is(err, errOverflow) {
			return err
		}
		// Too many changes came while this round read: the pending set
		// was dropped, so the index may miss some. Build again (a Reset
		// cancels ctx and stops this).
	}
}

// errOverflow reports that the pending set overflowed during a refresh.
var errOverflow = errors.New("leak index: too many changes during the refresh")

// buildAndDrainLocked builds the index if it has none, follows the mount
// list and reads the pending secrets again; errOverflow when the pending
// set overflowed meanwhile.
func (x *Index) buildAndDrainLocked(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("leak index: %w", err)
	}
	if x.mac == nil {
		key, err := x.loadKey(ctx)
		if err != nil {
			return err
		}
		x.mac = hmac.New(sha256.New, key)
		x.mounts = make(map[string]mountState)
		x.secrets = make(map[secretID]*secret)
		x.byFP = make(map[Fingerprint]ref)
		x.more = make(map[Fingerprint]*refSet)
		x.names = make(map[string]string)
		x.shapes = make(map[shape]*shape)
		// Record changes from now on: whatever the walk below misses
		// because it changed meanwhile is read again after it.
		x.pmu.Lock()
		x.tracking = true
		x.pmu.Unlock()
	}
	if err := x.syncMountsLocked(ctx); err != nil {
		return err
	}
	return x.drainLocked(ctx)
}

// loadKey returns the index key, making and storing it on first use.
func (x *Index) loadKey(ctx context.Context) ([]byte, error) {
	e, err := x.opts.Storage.Get(ctx, keyEntry)
	if err != nil {
		return nil, fmt.Errorf("read leak index key: %w", err)
	}
	if e != nil {
		if len(e.Value) != 32 {
			return nil, errors.New("leak index key: stored key is not 32 bytes")
		}
		return e.Value, nil
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := x.opts.Storage.Put(ctx, &logical.StorageEntry{Key: keyEntry, Value: key}); err != nil {
		return nil, fmt.Errorf("store leak index key: %w", err)
	}
	return key, nil
}

// syncMountsLocked follows the mount list: a mount that went is taken
// out, a new mount (or one whose backend was built again) is walked, a
// moved one keeps its secrets under its new path.
func (x *Index) syncMountsLocked(ctx context.Context) error {
	now := x.opts.Mounts.ValueMounts()
	seen := make(map[string]bool, len(now))
	var walk []Mount
	for _, m := range now {
		seen[m.Accessor] = true
		old, ok := x.mounts[m.Accessor]
		switch {
		case !ok:
			walk = append(walk, m)
		case old.source != m.Source:
			x.dropMountLocked(m.Accessor)
			walk = append(walk, m)
		default:
			x.mounts[m.Accessor] = mountState{path: m.Path, source: m.Source}
		}
	}
	for acc := range x.mounts {
		if !seen[acc] {
			x.dropMountLocked(acc)
		}
	}
	for _, m := range walk {
		x.mounts[m.Accessor] = mountState{path: m.Path, source: m.Source}
		n := 0
		err := m.Source.ValueKeys(ctx, func(key string) (bool, error) {
			n++
			return true, x.readSecretLocked(ctx, m.Accessor, m.Source, key)
		})
		if err != nil {
			return fmt.Errorf("index mount %s: %w", m.Path, err)
		}
		x.log.Info("leak index: indexed mount", "mount", m.Path, "secrets", n)
	}
	return nil
}

// dropMountLocked takes every secret of the mount out of the index.
func (x *Index) dropMountLocked(accessor string) {
	for id, s := range x.secrets {
		if id.accessor == accessor {
			x.removeLocked(s)
		}
	}
	delete(x.mounts, accessor)
}

// drainLocked reads every pending secret again. Each is taken off the
// pending set before it is read, so a change that completes during the
// read marks it pending again.
func (x *Index) drainLocked(ctx context.Context) error {
	x.pmu.Lock()
	pending, overflow := x.pending, x.overflow
	x.pending = nil
	x.pmu.Unlock()
	if overflow {
		return errOverflow
	}
	for id := range pending {
		m, ok := x.mounts[id.accessor]
		if !ok {
			continue // a mount not (yet) indexed: its walk reads it
		}
		if err := x.readSecretLocked(ctx, id.accessor, m.source, id.key); err != nil {
			return fmt.Errorf("index secret of mount %s: %w", m.path, err)
		}
	}
	return nil
}

// readSecretLocked replaces what the index holds of one secret by what
// the source holds now.
func (x *Index) readSecretLocked(ctx context.Context, accessor string, src logical.ValueSource, key string) error {
	id := secretID{accessor, key}
	if old := x.secrets[id]; old != nil {
		x.removeLocked(old)
	}
	sv, err := src.SecretValues(ctx, key)
	if err != nil || sv == nil {
		return err
	}
	s := &secret{id: id, shape: x.shapeLocked(key, sv)}
	// A value the secret holds several times in one version (in several
	// fields, or many times in a list) is indexed once, under the first
	// of its fields in byte order (sources may list fields in any order).
	seen := make(map[fpVersion]int, len(sv.Values))
	var refs []ref
	for _, v := range sv.Values {
		if len(v.Value) < MinValueLen {
			continue
		}
		sum := sha256.Sum256([]byte(v.Value))
		k := fpVersion{x.fingerprintLocked(sum[:]), int32(v.Version)}
		if i, dup := seen[k]; dup {
			if v.Field < refs[i].field {
				refs[i].field = v.Field
			}
			continue
		}
		seen[k] = len(refs)
		refs = append(refs, ref{s: s, field: v.Field, version: k.version, current: v.Current})
		s.fps = append(s.fps, k)
	}
	for i, r := range refs {
		r.field = x.internLocked(r.field)
		x.addLocked(s.fps[i].fp, r)
	}
	if len(s.fps) > 0 {
		x.secrets[id] = s
	}
	return nil
}

// shapeLocked returns the shape of sv, the values of the secret at key:
// a shared one when its paths end in key.
func (x *Index) shapeLocked(key string, sv *logical.SecretValues) *shape {
	pp, ok1 := strings.CutSuffix(sv.Path, key)
	rp, ok2 := strings.CutSuffix(sv.ReadPath, key)
	if !ok1 || !ok2 {
		return &shape{kind: sv.Kind, pathPrefix: sv.Path, readPrefix: sv.ReadPath, whole: true, trashed: sv.Trashed}
	}
	k := shape{kind: sv.Kind, pathPrefix: pp, readPrefix: rp, trashed: sv.Trashed}
	if sh, ok := x.shapes[k]; ok {
		return sh
	}
	sh := &shape{kind: strings.Clone(k.kind), pathPrefix: strings.Clone(pp), readPrefix: strings.Clone(rp), trashed: k.trashed}
	if len(x.shapes) < maxInterned {
		x.shapes[*sh] = sh
	}
	return sh
}

// addLocked adds r as a place of fp.
func (x *Index) addLocked(fp Fingerprint, r ref) {
	x.nvalues++
	if _, taken := x.byFP[fp]; !taken {
		x.byFP[fp] = r
		return
	}
	m := x.more[fp]
	if m == nil {
		m = &refSet{refs: make(map[refKey]ref, 1)}
		x.more[fp] = m
	}
	m.refs[r.key()] = r
}

// removeLocked takes s's values out of the index; each costs a few map
// operations, however many other places its fingerprint has.
func (x *Index) removeLocked(s *secret) {
	for _, v := range s.fps {
		x.removeRefLocked(v.fp, refKey{s, v.version})
	}
	delete(x.secrets, s.id)
}

// removeRefLocked takes the place k out of fp's.
func (x *Index) removeRefLocked(fp Fingerprint, k refKey) {
	first, ok := x.byFP[fp]
	if !ok {
		return // dropped with its fingerprint already
	}
	m := x.more[fp]
	switch {
	case first.key() == k:
		x.nvalues--
		if m == nil {
			delete(x.byFP, fp)
			return
		}
		for rk, r := range m.refs {
			x.byFP[fp] = r
			delete(m.refs, rk)
			break
		}
		if len(m.refs) == 0 {
			delete(x.more, fp)
		}
		return
	case m == nil:
		return
	}
	if _, ok := m.refs[k]; ok {
		delete(m.refs, k)
		x.nvalues--
	}
	if len(m.refs) == 0 {
		delete(x.more, fp)
	}
}
