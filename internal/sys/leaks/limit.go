package leaks

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Limits are the rate limits of sys/leaks/check. Each caller (by its
// entity, or its token's accessor: see limitKey) has two token buckets:
// one of calls and one of candidates; a call needs one from the first
// and as many as it carries from the second, and as many again from one
// bucket of candidates all callers share.
type Limits struct {
	// CallsPerSecond and CallBurst bound calls.
	CallsPerSecond float64
	CallBurst      int
	// CandidatesPerMinute and CandidateBurst bound candidates checked.
	CandidatesPerMinute float64
	CandidateBurst      int
	// GlobalCandidatesPerMinute and GlobalCandidateBurst bound the
	// candidates of all callers together.
	GlobalCandidatesPerMinute float64
	GlobalCandidateBurst      int
	// MaxAccessors bounds how many callers' buckets are kept. When the
	// table is full, idle callers' buckets (full again) are dropped; if
	// none is idle, a caller without buckets is answered 429 (callers
	// with buckets keep them: evicting a busy caller would hand it
	// fresh buckets).
	MaxAccessors int
}

// DefaultLimits are the limits of a server: 10 calls a second with bursts
// of 20, and 100,000 candidates a minute with bursts of 10,000 (ten full
// calls), for each of at most 10,000 callers seen lately; and 1,000,000
// candidates a minute with bursts of 100,000 for all callers together.
var DefaultLimits = Limits{
	CallsPerSecond: 10, CallBurst: 20,
	CandidatesPerMinute: 100_000, CandidateBurst: 10 * MaxCandidates,
	GlobalCandidatesPerMinute: 1_000_000, GlobalCandidateBurst: 100 * MaxCandidates,
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
	if l.GlobalCandidatesPerMinute > 0 {
		d.GlobalCandidatesPerMinute = l.GlobalCandidatesPerMinute
	}
	if l.GlobalCandidateBurst > 0 {
		d.GlobalCandidateBurst = l.GlobalCandidateBurst
	}
	if l.MaxAccessors > 0 {
		d.MaxAccessors = l.MaxAccessors
	}
	d.CandidateBurst = max(d.CandidateBurst, MaxCandidates) // a full call must fit
	d.GlobalCandidateBurst = max(d.GlobalCandidateBurst, MaxCandidates)
	return d
}

// limiter keeps the buckets of each caller and the shared one.
type limiter struct {
	l      Limits
	mu     sync.Mutex
	by     map[string]*buckets // guarded by mu
	global *rate.Limiter       // candidates of all callers; guarded by mu
}

type buckets struct {
	calls, candidates *rate.Limiter
}

func newLimiter(l Limits) *limiter {
	return &limiter{l: l, by: make(map[string]*buckets), global: rate.NewLimiter(rate.Limit(l.GlobalCandidatesPerMinute/60), l.GlobalCandidateBurst)}
}

// idle reports whether b's buckets are full at now: dropping them changes
// nothing for their accessor.
func (b *buckets) idle(now time.Time) bool {
	return b.calls.TokensAt(now) >= float64(b.calls.Burst()) && b.candidates.TokensAt(now) >= float64(b.candidates.Burst())
}

// allow takes one call and n candidates from accessor's buckets, and n
// candidates from the shared bucket, at now; or nothing and a
// [logical.RateLimitError].
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
	if g := r.global.ReserveN(now, n); !g.OK() || g.DelayFrom(now) > 0 {
		wait := g.DelayFrom(now)
		g.CancelAt(now)
		c.CancelAt(now)
		k.CancelAt(now)
		return &logical.RateLimitError{Msg: "sys/leaks/check is busy: all callers together checked too many candidates; try again later", RetryAfter: max(wait, time.Second)}
	}
	return nil
}
