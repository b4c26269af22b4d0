package leaks

import (
	"errors"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	type call struct {
		accessor string
		n        int
		at       time.Duration // after t0
		retry    time.Duration // 0: allowed
	}
	tests := []struct {
		name   string
		limits Limits
		calls  []call
	}{
		{
			name:   "call burst then refill",
			limits: Limits{CallsPerSecond: 10, CallBurst: 2},
			calls: []call{
				{"a", 1, 0, 0}, {"a", 1, 0, 0}, {"a", 1, 0, 100 * time.Millisecond},
				{"b", 1, 0, 0}, // its own buckets
				{"a", 1, 100 * time.Millisecond, 0}, {"a", 1, 100 * time.Millisecond, 100 * time.Millisecond},
			},
		},
		{
			name:   "candidate budget",
			limits: Limits{CandidatesPerMinute: 60_000, CandidateBurst: 2000},
			calls: []call{
				{"a", 1000, 0, 0}, {"a", 1000, 0, 0}, {"a", 1, 0, time.Millisecond},
				{"a", 1000, time.Second, 0}, {"a", 1000, time.Second, time.Second},
			},
		},
		{
			name:   "global ceiling across callers",
			limits: Limits{GlobalCandidatesPerMinute: 60_000, GlobalCandidateBurst: 2000},
			calls: []call{
				{"a", 1000, 0, 0}, {"b", 1000, 0, 0}, {"c", 1, 0, time.Second},
				// c's refused call took nothing: a's and b's budgets are
				// untouched by it, and the shared one refills.
				{"c", 1000, time.Second, 0}, {"a", 1, time.Second, time.Second},
			},
		},
		{
			name:   "bounded accessors",
			limits: Limits{CallsPerSecond: 1, CallBurst: 1, MaxAccessors: 2},
			calls: []call{
				{"a", 1, 0, 0}, {"b", 1, 0, 0}, {"c", 1, 0, time.Second},
				// a and b are full again after a second: dropped for c.
				{"c", 1, time.Second, 0}, {"c", 1, time.Second, time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(tt.limits.withDefaults())
			for i, c := range tt.calls {
				err := l.allow(c.accessor, c.n, t0.Add(c.at))
				rl, _ := errors.AsType[*logical.RateLimitError](err)
				switch {
				case c.retry == 0 && err != nil:
					t.Errorf("call %d (%+v) = %v, want allowed", i, c, err)
				case c.retry != 0 && (rl == nil || !errors.Is(err, logical.ErrRateLimited)):
					t.Errorf("call %d (%+v) = %v, want rate limited", i, c, err)
				case c.retry != 0 && rl.RetryAfter != c.retry:
					t.Errorf("call %d (%+v): retry after %v, want %v", i, c, rl.RetryAfter, c.retry)
				}
			}
		})
	}
}

func TestLimitKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req  logical.Request
		want string
	}{
		{logical.Request{Accessor: "acc", EntityID: "ent"}, "entity:ent"},
		{logical.Request{Accessor: "acc"}, "accessor:acc"},
		{logical.Request{EntityID: "ent"}, "entity:ent"},
		{logical.Request{}, "batch"},
	}
	for _, tt := range tests {
		if got := limitKey(&tt.req); got != tt.want {
			t.Errorf("limitKey(accessor %q, entity %q) = %q, want %q", tt.req.Accessor, tt.req.EntityID, got, tt.want)
		}
	}
}
