// Package lease is Coffer's expiration manager: it records a lease for
// every secret handed out with a TTL, renews leases, and revokes them in
// the system they came from when they expire, when their token is revoked,
// or when an operator asks.
//
// Leases live behind the barrier under "sys/expire/": the lease itself at
// id/<lease ID> (so lease IDs list like paths), an expiry index in
// one-second buckets at time/<unix>/<hash>, and a token index at
// token/<token hash>/<hash>. Only the bucket times are kept in memory, so a
// million leases cost a few megabytes and one goroutine. A revocation that
// fails stays in the index and is retried with backoff; after a few
// failures the lease is reported as irrevocable, and still retried.
//
// The manager calls back into core through the [Revoker] interface it
// declares. It must not import core, httpapi or any engine. A [Manager] is
// safe for concurrent use.
package lease

import (
	"container/heap"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage"
)

// Storage key prefixes, inside the barrier.
const (
	idPrefix    = "sys/expire/id/"
	timePrefix  = "sys/expire/time/"
	tokenPrefix = "sys/expire/token/"
)

// ErrNotFound is returned for a lease that does not exist.
var ErrNotFound = errors.New("lease not found")

// ErrExpired is returned when renewing a lease whose time is up (it is
// about to be revoked).
var ErrExpired = errors.New("lease expired")

// ErrNotRenewable is returned when renewing a lease that cannot be renewed.
var ErrNotRenewable = errors.New("lease is not renewable")

// irrevocableAfter is how many failed revocations make a lease irrevocable
// in reports (it is still retried).
const irrevocableAfter = 6

// maxBackoff caps the wait between revocation attempts.
const maxBackoff = 5 * time.Minute

// Entry is one lease.
type Entry struct {
	// LeaseID is "<mount path><request path>/<random>".
	LeaseID string `json:"lease_id"`
	// MountPath is the mount that issued the secret, e.g. "database/".
	MountPath string `json:"mount_path"`
	// Path is the request path relative to the mount.
	Path string `json:"path"`
	// TokenHash is the hashed ID of the token that got the secret.
	TokenHash string `json:"token_hash,omitempty"`
	// InternalData is what the backend needs to renew or revoke.
	InternalData map[string]string `json:"internal_data,omitempty"`
	// IssueTime is when the lease was made.
	IssueTime time.Time `json:"issue_time"`
	// ExpireTime is when it expires.
	ExpireTime time.Time `json:"expire_time"`
	// InitialTTL is the TTL the lease was issued with: a renewal that asks
	// for no increment renews to it again from now. Zero in leases stored
	// before it existed (see [Entry.defaultIncrement]).
	InitialTTL time.Duration `json:"initial_ttl,omitempty"`
	// MaxExpire caps renewals; zero means no cap.
	MaxExpire time.Time `json:"max_expire,omitzero"`
	// LastRenewal is the time of the last renewal; zero if never.
	LastRenewal time.Time `json:"last_renewal,omitzero"`
	// Renewable says whether the lease may be renewed.
	Renewable bool `json:"renewable"`
	// RevokeAttempts counts failed revocations.
	RevokeAttempts int `json:"revoke_attempts,omitempty"`
	// LastError is the last revocation failure, for operators.
	LastError string `json:"last_error,omitempty"`
	// NextAttempt is when the next revocation is due after a failure.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
}

// dueTime is when the sweeper should act on e.
func (e *Entry) dueTime() time.Time {
	if !e.NextAttempt.IsZero() {
		return e.NextAttempt
	}
	return e.ExpireTime
}

// TTL is the time left at now, never negative.
func (e *Entry) TTL(now time.Time) time.Duration {
	return max(e.ExpireTime.Sub(now), 0)
}

// defaultIncrement is what a renewal without an increment asks for: the
// lease's initial TTL, so that renewing again and again keeps granting the
// same TTL from now instead of a growing one. Leases stored before
// InitialTTL existed use the TTL their last grant gave.
func (e *Entry) defaultIncrement() time.Duration {
	if e.InitialTTL > 0 {
		return e.InitialTTL
	}
	from := e.IssueTime
	if e.LastRenewal.After(from) {
		from = e.LastRenewal
	}
	return e.ExpireTime.Sub(from)
}

// GrantedTTL is the TTL the lease's last grant (issue or renewal) gave,
// which is what a renewal reports as the lease duration.
func (e *Entry) GrantedTTL() time.Duration {
	from := e.IssueTime
	if e.LastRenewal.After(from) {
		from = e.LastRenewal
	}
	return max(e.ExpireTime.Sub(from), 0)
}

// Irrevocable reports whether revoking e has failed repeatedly.
func (e *Entry) Irrevocable() bool { return e.RevokeAttempts >= irrevocableAfter }

// Revoker revokes and renews leases in the systems they came from; core
// implements it by calling the issuing backend.
type Revoker interface {
	RevokeLease(ctx context.Context, e *Entry) error
	// RenewLease asks the backend to extend the lease by increment and
	// returns the TTL it grants.
	RenewLease(ctx context.Context, e *Entry, increment time.Duration) (time.Duration, error)
}

// Clock tells the time.
type Clock interface{ Now() time.Time }

// Options configures a [Manager].
type Options struct {
	Storage storage.Storage
	Revoker Revoker
	Logger  *slog.Logger
	Clock   Clock
	// SweepInterval is how often due leases are looked for; default 1s.
	SweepInterval time.Duration
	// OnRevokeFailure, when set, is called for each failed revocation
	// (for metrics).
	OnRevokeFailure func(mountPath string)
}

// Manager keeps leases.
type Manager struct {
	st       storage.Storage
	revoker  Revoker
	logger   *slog.Logger
	clock    Clock
	interval time.Duration
	onFail   func(string)

	locks [64]sync.Mutex // serialize changes to one lease, by lease ID
	seed  maphash.Seed
	count atomic.Int64 // live leases, for metrics

	mu      sync.Mutex
	buckets bucketHeap         // guarded by mu: unix seconds that have index entries
	known   map[int64]struct{} // guarded by mu: members of buckets
	loaded  bool               // guarded by mu
}

// New returns a manager; call Load after unseal.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	return &Manager{
		st:       opts.Storage,
		revoker:  opts.Revoker,
		logger:   opts.Logger.With("component", "lease"),
		clock:    opts.Clock,
		interval: opts.SweepInterval,
		onFail:   opts.OnRevokeFailure,
		seed:     maphash.MakeSeed(),
	}
}

// bucketHeap is a min-heap of unix seconds.
type bucketHeap []int64

func (h bucketHeap) Len() int           { return len(h) }
func (h bucketHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h bucketHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *bucketHeap) Push(x any)        { *h = append(*h, x.(int64)) }
func (h *bucketHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Load reads the expiry index's bucket times (not the leases) and counts
// the leases. It is called on unseal.
func (m *Manager) Load(ctx context.Context) error {
	names, err := m.st.List(ctx, timePrefix)
	if err != nil {
		return fmt.Errorf("list lease expiry index: %w", err)
	}
	h := make(bucketHeap, 0, len(names))
	known := make(map[int64]struct{}, len(names))
	for _, n := range names {
		sec, err := strconv.ParseInt(strings.TrimSuffix(n, "/"), 10, 64)
		if err != nil {
			continue
		}
		if _, ok := known[sec]; !ok {
			known[sec] = struct{}{}
			h = append(h, sec)
		}
	}
	heap.Init(&h)
	n, err := m.countLeases(ctx)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.buckets, m.known, m.loaded = h, known, true
	m.mu.Unlock()
	m.count.Store(n)
	return nil
}

// countLeases counts the entries of the token index and of leases with no
// token, cheaply: one list per bucket.
func (m *Manager) countLeases(ctx context.Context) (int64, error) {
	buckets, err := m.st.List(ctx, timePrefix)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, b := range buckets {
		names, err := m.st.List(ctx, timePrefix+b)
		if err != nil {
			return 0, err
		}
		n += int64(len(names))
	}
	return n, nil
}

// Reset forgets the in-memory index; it is called on seal.
func (m *Manager) Reset() {
	m.mu.Lock()
	m.buckets, m.known, m.loaded = nil, nil, false
	m.mu.Unlock()
	m.count.Store(0)
}

// Count returns the number of live leases.
func (m *Manager) Count() int64 { return m.count.Load() }

func (m *Manager) addBucket(sec int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.loaded {
		return
	}
	if _, ok := m.known[sec]; !ok {
		m.known[sec] = struct{}{}
		heap.Push(&m.buckets, sec)
	}
}

func (m *Manager) lock(id string) *sync.Mutex {
	return &m.locks[maphash.String(m.seed, id)%uint64(len(m.locks))]
}

// idHash names a lease inside index keys.
func idHash(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}

func timeKey(t time.Time, id string) string {
	return fmt.Sprintf("%s%012d/%s", timePrefix, t.Unix(), idHash(id))
}

func tokenKey(tokenHash, id string) string {
	return tokenPrefix + tokenHash + "/" + idHash(id)
}

// Request describes a new lease.
type Request struct {
	MountPath    string
	Path         string
	TokenHash    string
	TTL          time.Duration
	MaxTTL       time.Duration
	Renewable    bool
	InternalData map[string]string
}

// Register stores a new lease and returns it.
func (m *Manager) Register(ctx context.Context, r Request) (*Entry, error) {
	now := m.clock.Now().UTC()
	path := strings.Trim(r.Path, "/")
	id := r.MountPath + path + "/" + rand.Text()
	if path == "" {
		id = r.MountPath + rand.Text()
	}
	e := &Entry{
		LeaseID:      id,
		MountPath:    r.MountPath,
		Path:         r.Path,
		TokenHash:    r.TokenHash,
		InternalData: r.InternalData,
		IssueTime:    now,
		ExpireTime:   now.Add(r.TTL),
		InitialTTL:   r.TTL,
		Renewable:    r.Renewable,
	}
	if r.MaxTTL > 0 {
		e.MaxExpire = now.Add(r.MaxTTL)
	}
	ops, err := m.putOps(e)
	if err != nil {
		return nil, err
	}
	if err := m.st.Txn(ctx, ops); err != nil {
		return nil, fmt.Errorf("store lease: %w", err)
	}
	m.addBucket(e.dueTime().Unix())
	m.count.Add(1)
	return e, nil
}

// putOps are the writes that store e and index it.
func (m *Manager) putOps(e *Entry) ([]storage.Op, error) {
	buf, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode lease: %w", err)
	}
	ops := []storage.Op{
		{Kind: storage.OpPut, Entry: storage.Entry{Key: idPrefix + e.LeaseID, Value: buf}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: timeKey(e.dueTime(), e.LeaseID), Value: []byte(e.LeaseID)}},
	}
	if e.TokenHash != "" {
		ops = append(ops, storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: tokenKey(e.TokenHash, e.LeaseID), Value: []byte(e.LeaseID)}})
	}
	return ops, nil
}

// validID checks a lease ID given by a client.
func validID(id string) error {
	if id == "" || len(id) > 1024 || storage.ValidateKey(idPrefix+id) != nil || strings.HasSuffix(id, "/") {
		return ErrNotFound
	}
	for seg := range strings.SplitSeq(id, "/") {
		if seg == "" {
			return ErrNotFound
		}
	}
	return nil
}

// Lookup returns the lease with id.
func (m *Manager) Lookup(ctx context.Context, id string) (*Entry, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	se, err := m.st.Get(ctx, idPrefix+id)
	if err != nil {
		return nil, fmt.Errorf("read lease: %w", err)
	}
	if se == nil {
		return nil, ErrNotFound
	}
	e := new(Entry)
	if err := json.Unmarshal(se.Value, e); err != nil {
		return nil, fmt.Errorf("decode lease: %w", err)
	}
	return e, nil
}

// Renew extends a lease to increment from now (capped by what the backend
// grants, by the lease's maximum and by limit when limit is not zero, such
// as the token's expiry) and returns it; [Entry.GrantedTTL] is then the
// TTL granted. Without an increment (zero) the lease's initial TTL is
// asked for again. A lease that does not exist returns [ErrNotFound], one
// that has expired [ErrExpired].
func (m *Manager) Renew(ctx context.Context, id string, increment time.Duration, limit time.Time) (*Entry, error) {
	l := m.lock(id)
	l.Lock()
	defer l.Unlock()
	e, err := m.Lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	now := m.clock.Now().UTC()
	if !e.ExpireTime.After(now) {
		return nil, ErrExpired
	}
	if !e.Renewable {
		return nil, ErrNotRenewable
	}
	if increment <= 0 {
		increment = e.defaultIncrement()
	}
	ttl, err := m.revoker.RenewLease(ctx, e, increment)
	if err != nil {
		return nil, err
	}
	expire := now.Add(min(ttl, increment))
	if !e.MaxExpire.IsZero() && expire.After(e.MaxExpire) {
		expire = e.MaxExpire
	}
	if !limit.IsZero() && expire.After(limit) {
		expire = limit
	}
	old := timeKey(e.dueTime(), e.LeaseID)
	e.ExpireTime = expire
	e.LastRenewal = now
	ops, err := m.putOps(e)
	if err != nil {
		return nil, err
	}
	if nk := timeKey(e.dueTime(), e.LeaseID); nk != old {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: old}})
	}
	if err := m.st.Txn(ctx, ops); err != nil {
		return nil, fmt.Errorf("store lease: %w", err)
	}
	m.addBucket(e.dueTime().Unix())
	return e, nil
}

// deleteOps remove e and its index entries.
func deleteOps(e *Entry) []storage.Op {
	ops := []storage.Op{
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: idPrefix + e.LeaseID}},
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: timeKey(e.dueTime(), e.LeaseID)}},
	}
	if e.TokenHash != "" {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: tokenKey(e.TokenHash, e.LeaseID)}})
	}
	return ops
}

// Revoke revokes the lease in its backend and then deletes it. With force,
// the lease is deleted even if the backend fails (the failure is logged).
// A failed revocation without force is scheduled for retry and returned.
func (m *Manager) Revoke(ctx context.Context, id string, force bool) error {
	l := m.lock(id)
	l.Lock()
	defer l.Unlock()
	e, err := m.Lookup(ctx, id)
	if err != nil {
		return err
	}
	return m.revokeLocked(ctx, e, force)
}

func (m *Manager) revokeLocked(ctx context.Context, e *Entry, force bool) error {
	if err := m.revoker.RevokeLease(ctx, e); err != nil {
		if m.onFail != nil {
			m.onFail(e.MountPath)
		}
		if !force {
			if serr := m.scheduleRetry(ctx, e, err); serr != nil {
				return errors.Join(err, serr)
			}
			return err
		}
		m.logger.Warn("lease removed by force although the backend could not revoke it", "lease_id", e.LeaseID, "err", err)
	}
	if err := m.st.Txn(ctx, deleteOps(e)); err != nil {
		return fmt.Errorf("delete lease: %w", err)
	}
	m.count.Add(-1)
	return nil
}

// scheduleRetry records a failed revocation and moves the lease's index
// entry to the time of the next attempt.
func (m *Manager) scheduleRetry(ctx context.Context, e *Entry, cause error) error {
	old := timeKey(e.dueTime(), e.LeaseID)
	e.RevokeAttempts++
	e.LastError = cause.Error()
	wait := min(time.Second<<min(e.RevokeAttempts-1, 20), maxBackoff)
	e.NextAttempt = m.clock.Now().UTC().Add(wait)
	ops, err := m.putOps(e)
	if err != nil {
		return err
	}
	if nk := timeKey(e.dueTime(), e.LeaseID); nk != old {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: old}})
	}
	if err := m.st.Txn(ctx, ops); err != nil {
		return fmt.Errorf("store lease retry: %w", err)
	}
	m.addBucket(e.dueTime().Unix())
	level := slog.LevelWarn
	if e.Irrevocable() {
		level = slog.LevelError
	}
	m.logger.Log(ctx, level, "lease revocation failed; will retry", "lease_id", e.LeaseID, "attempts", e.RevokeAttempts, "retry_in", wait, "err", cause)
	return nil
}

// walk calls fn with every lease ID under prefix (recursively).
func (m *Manager) walk(ctx context.Context, prefix string, fn func(id string) error) error {
	names, err := m.st.List(ctx, idPrefix+prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			errs = append(errs, m.walk(ctx, prefix+n, fn))
			continue
		}
		errs = append(errs, fn(prefix+n))
	}
	return errors.Join(errs...)
}

// RevokePrefix revokes every lease whose ID starts with prefix (at a path
// segment boundary).
func (m *Manager) RevokePrefix(ctx context.Context, prefix string, force bool) error {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" || storage.ValidateKey(idPrefix+prefix) != nil {
		return ErrNotFound
	}
	return m.walk(ctx, prefix+"/", func(id string) error {
		err := m.Revoke(ctx, id, force)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
}

// List returns the lease IDs and folders directly under prefix.
func (m *Manager) List(ctx context.Context, prefix string) ([]string, error) {
	if prefix != "" {
		if !strings.HasSuffix(prefix, "/") {
			prefix += "/"
		}
		if storage.ValidateKey(idPrefix+strings.TrimSuffix(prefix, "/")) != nil {
			return nil, ErrNotFound
		}
	}
	return m.st.List(ctx, idPrefix+prefix)
}

// RevokeByToken revokes every lease the token with tokenHash created. A
// lease whose revocation fails is kept and retried by the sweeper, so the
// token itself can go.
func (m *Manager) RevokeByToken(ctx context.Context, tokenHash string) error {
	names, err := m.st.List(ctx, tokenPrefix+tokenHash+"/")
	if err != nil {
		return fmt.Errorf("list leases of token: %w", err)
	}
	for _, n := range names {
		se, err := m.st.Get(ctx, tokenPrefix+tokenHash+"/"+n)
		if err != nil || se == nil {
			continue
		}
		err = m.Revoke(ctx, string(se.Value), false)
		if errors.Is(err, ErrNotFound) {
			m.st.Delete(ctx, tokenPrefix+tokenHash+"/"+n)
		}
		// Other failures are scheduled for retry by Revoke.
	}
	return nil
}

// Irrevocable returns the leases whose revocation keeps failing.
func (m *Manager) Irrevocable(ctx context.Context) ([]*Entry, error) {
	var out []*Entry
	err := m.walk(ctx, "", func(id string) error {
		e, err := m.Lookup(ctx, id)
		if err == nil && e.RevokeAttempts > 0 {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Sweep revokes the leases due by now and returns how many went.
func (m *Manager) Sweep(ctx context.Context) (int, error) {
	now := m.clock.Now()
	var due []int64
	m.mu.Lock()
	for m.buckets.Len() > 0 && m.buckets[0] <= now.Unix() {
		sec := heap.Pop(&m.buckets).(int64)
		delete(m.known, sec)
		due = append(due, sec)
	}
	m.mu.Unlock()
	n := 0
	var errs []error
	for _, sec := range due {
		bucket := fmt.Sprintf("%s%012d/", timePrefix, sec)
		names, err := m.st.List(ctx, bucket)
		if err != nil {
			errs = append(errs, err)
			m.addBucket(sec)
			continue
		}
		for _, h := range names {
			se, err := m.st.Get(ctx, bucket+h)
			if err != nil || se == nil {
				continue
			}
			id := string(se.Value)
			revoked, err := m.sweepOne(ctx, id, bucket+h, now)
			if err != nil {
				errs = append(errs, err)
			}
			if revoked {
				n++
			}
		}
	}
	return n, errors.Join(errs...)
}

// sweepOne revokes one due lease unless it was renewed meanwhile.
func (m *Manager) sweepOne(ctx context.Context, id, indexKey string, now time.Time) (bool, error) {
	l := m.lock(id)
	l.Lock()
	defer l.Unlock()
	e, err := m.Lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, m.st.Delete(ctx, indexKey) // stale index entry
	}
	if err != nil {
		return false, err
	}
	if timeKey(e.dueTime(), e.LeaseID) != indexKey {
		// Renewed or rescheduled: this index entry is stale.
		return false, m.st.Delete(ctx, indexKey)
	}
	if e.dueTime().After(now) {
		m.addBucket(e.dueTime().Unix())
		return false, nil
	}
	if err := m.revokeLocked(ctx, e, false); err != nil {
		return false, nil // scheduled for retry and logged
	}
	return true, nil
}

// Run sweeps due leases every SweepInterval until ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		if _, err := m.Sweep(ctx); err != nil && ctx.Err() == nil {
			m.logger.Error("sweep expired leases", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tidy removes index entries that point at leases that no longer exist.
func (m *Manager) Tidy(ctx context.Context) error {
	var errs []error
	tokens, err := m.st.List(ctx, tokenPrefix)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		names, err := m.st.List(ctx, tokenPrefix+t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range names {
			key := tokenPrefix + t + n
			se, err := m.st.Get(ctx, key)
			if err != nil || se == nil {
				continue
			}
			if _, err := m.Lookup(ctx, string(se.Value)); errors.Is(err, ErrNotFound) {
				errs = append(errs, m.st.Delete(ctx, key))
			}
		}
	}
	return errors.Join(errs...)
}

// ByToken returns the IDs of the leases the token with tokenHash holds.
func (m *Manager) ByToken(ctx context.Context, tokenHash string) ([]string, error) {
	names, err := m.st.List(ctx, tokenPrefix+tokenHash+"/")
	if err != nil {
		return nil, fmt.Errorf("list leases of token: %w", err)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		se, err := m.st.Get(ctx, tokenPrefix+tokenHash+"/"+n)
		if err != nil {
			return nil, fmt.Errorf("read lease of token: %w", err)
		}
		if se != nil {
			out = append(out, string(se.Value))
		}
	}
	return out, nil
}
