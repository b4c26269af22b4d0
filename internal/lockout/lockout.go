// Package lockout counts failed logins per auth mount and alias name and
// locks an alias out after too many, as a mount's user lockout setting
// ([mount.Lockout]) says. The table lives in memory only: a restart or a
// seal lifts every lockout.
package lockout

import (
	"container/list"
	"sort"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/mount"
)

// MaxEntries caps the lockout table. Only aliases that exist are
// tracked, so the cap is reached only with that many users or roles
// failing at once; beyond it the entry whose counting window began
// first is evicted (which may lift its lockout early).
const MaxEntries = 100_000

// SweepInterval is how often, at most, the whole lockout table is
// swept for expired entries; expired entries met in between are removed
// as they are met.
const SweepInterval = time.Minute

// Table counts failed logins per auth mount accessor and alias name.
// An entry expires when both its counting window and its lockout are
// over; expired entries are removed on access and by a sweep at most
// every SweepInterval. The table holds at most max entries. It is
// safe for concurrent use; times are passed in, so tests drive the clock.
type Table struct {
	mu        sync.Mutex
	max       int                   // fixed at construction
	state     map[Key]*list.Element // guarded by mu; values are *entry
	order     *list.List            // guarded by mu; oldest window first
	nextSweep time.Time             // guarded by mu
}

// Key names one alias of one auth mount.
type Key struct {
	// Accessor is the auth mount's accessor.
	Accessor string
	// Name is the alias name the login named.
	Name string
}

type entry struct {
	key         Key
	failures    int
	firstFail   time.Time
	lockedUntil time.Time
	expires     time.Time // the later of firstFail plus the counter reset and lockedUntil
}

// New returns an empty table of at most maxEntries entries.
func New(maxEntries int) *Table {
	return &Table{max: maxEntries, state: map[Key]*list.Element{}, order: list.New()}
}

// Reset empties the table (at seal).
func (l *Table) Reset() {
	l.mu.Lock()
	l.state = map[Key]*list.Element{}
	l.order.Init()
	l.mu.Unlock()
}

// liveLocked returns the entry of k, or nil when there is none or it
// expired at now (it is then removed).
func (l *Table) liveLocked(k Key, now time.Time) *entry {
	el := l.state[k]
	if el == nil {
		return nil
	}
	st := el.Value.(*entry)
	if !now.Before(st.expires) {
		l.removeLocked(el)
		return nil
	}
	return st
}

func (l *Table) removeLocked(el *list.Element) {
	delete(l.state, el.Value.(*entry).key)
	l.order.Remove(el)
}

// sweepLocked removes every expired entry when a sweep is due at now.
func (l *Table) sweepLocked(now time.Time) {
	if now.Before(l.nextSweep) {
		return
	}
	l.nextSweep = now.Add(SweepInterval)
	for el := l.order.Front(); el != nil; {
		next := el.Next()
		if !now.Before(el.Value.(*entry).expires) {
			l.removeLocked(el)
		}
		el = next
	}
}

// Locked reports whether the alias is locked out at now.
func (l *Table) Locked(k Key, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.liveLocked(k, now)
	return st != nil && now.Before(st.lockedUntil)
}

// Fail records a failed login of an existing alias and reports whether it
// locked the alias.
func (l *Table) Fail(k Key, cfg mount.Lockout, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	st := l.liveLocked(k, now)
	if st == nil || now.Sub(st.firstFail) > cfg.CounterReset || (!st.lockedUntil.IsZero() && !now.Before(st.lockedUntil)) {
		if el := l.state[k]; el != nil {
			l.removeLocked(el)
		}
		for l.order.Len() >= l.max {
			l.removeLocked(l.order.Front())
		}
		st = &entry{key: k, firstFail: now}
		l.state[k] = l.order.PushBack(st)
	}
	st.failures++
	st.expires = st.firstFail.Add(cfg.CounterReset)
	locked := false
	if st.failures >= cfg.Threshold && st.lockedUntil.IsZero() {
		st.lockedUntil = now.Add(cfg.Duration)
		locked = true
	}
	if st.lockedUntil.After(st.expires) {
		st.expires = st.lockedUntil
	}
	return locked
}

// Succeed clears the failures of an alias after a good login.
func (l *Table) Succeed(k Key) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.state[k]; el != nil {
		l.removeLocked(el)
	}
}

// Unlock lifts a lockout; it reports whether there was an entry.
func (l *Table) Unlock(k Key) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.state[k]
	if el != nil {
		l.removeLocked(el)
	}
	return el != nil
}

// Size returns the number of live entries at now (for metrics).
func (l *Table) Size(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
	return len(l.state)
}

// LockedNames returns the locked aliases by mount accessor at now.
func (l *Table) LockedNames(now time.Time) map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string][]string{}
	for k, el := range l.state {
		if now.Before(el.Value.(*entry).lockedUntil) {
			out[k.Accessor] = append(out[k.Accessor], k.Name)
		}
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}
