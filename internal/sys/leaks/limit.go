package leaks

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Limits are the per-accessor rate limits of sys/leaks/check. Each token
// (by its accessor) has two token buckets: one of calls and one of
// candidates; a call needs one from the first and as many as it carries
// from the second.
type Limits struct {
	// CallsPerSecond and CallBurst bound calls.
	CallsPerSecond float64
	CallBurst      int
	// CandidatesPerMinute and CandidateBurst bound candidates checked.
	CandidatesPerMinute float64
	CandidateBurst      int
	// MaxAccessors bounds how many accessors' buckets are kept; an idle
	// accessor's buckets (full again) are dropped first.
	MaxAccessors int
}

// DefaultLimits are the limits of a server: 10 calls a second with bursts
// of 20, and 100,000 candidates a minute with bursts of 10,000 (ten full
// calls), for each of at most 10,000 accessors seen lately.
var DefaultLimits = Limits{
	CallsPerSecond: 10, CallBurst: 20,
	CandidatesPerMinute: 100_000, CandidateBurst: 10 * MaxCandidates,
	MaxAccessors: 10_000,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.CallsPerSecond > 0 {
		d.CallsPerSecond = l.CallsPerSecond
	}
	if l.CallBurst > 0 {
		d.CallBurst = l.CallBurst
	}
	if l.CandidatesPerMinute > 0 {
		d.CandidatesPerMinute = l.CandidatesPerMinute
	}
	if l.CandidateBurst > 0 {
		d.CandidateBurst = l.CandidateBurst
	}
	if l.MaxAccessors > 0 {
		d.MaxAccessors = l.MaxAccessors
	}
	d.CandidateBurst = max(d.CandidateBurst, MaxCandidates) // a full call must fit
	return d
}

// limiter keeps the buckets of each accessor.
type limiter struct {
	l  Limits
	mu sync.Mutex
	by map[string]*buckets // guarded by mu
}

type buckets struct {
	calls, candidates *rate.Limiter
}

func newLimiter(l Limits) *limiter {
	return &limiter{l: l, by: make(map[string]*buckets)}
}

// idle reports whether b's buckets are full at now: dropping them changes
// nothing for their accessor.
func (b *buckets) idle(now time.Time) bool {
	return b.calls.TokensAt(now) >= float64(b.calls.Burst()) && b.candidates.TokensAt(now) >= float64(b.candidates.Burst())
}

// allow takes one call and n candidates from accessor's buckets at now,
// or neither and a [logical.RateLimitError].
func (r *limiter) allow(accessor string, n int, now time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.by[accessor]
	if b == nil {
		if len(r.by) >= r.l.MaxAccessors {
			for k, o := range r.by {
				if o.idle(now) {
					delete(r.by, k)
				}
			}
		}
		if len(r.by) >= r.l.MaxAccessors {
			return &logical.RateLimitError{Msg: "too many tokens are checking for leaks at once; try again later", RetryAfter: time.Second}
		}
		b = &buckets{
			calls:      rate.NewLimiter(rate.Limit(r.l.CallsPerSecond), r.l.CallBurst),
			candidates: rate.NewLimiter(rate.Limit(r.l.CandidatesPerMinute/60), r.l.CandidateBurst),
		}
		r.by[accessor] = b
	}
	c := b.calls.ReserveN(now, 1)
	k := b.candidates.ReserveN(now, n)
	wait := max(c.DelayFrom(now), k.DelayFrom(now))
	if !c.OK() || !k.OK() || wait > 0 {
		c.CancelAt(now)
		k.CancelAt(now)
		return &logical.RateLimitError{Msg: "rate limit exceeded for sys/leaks/check; slow down", RetryAfter: wait}
	}
	return nil
}
