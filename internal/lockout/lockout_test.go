package lockout

import (
	"fmt"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/mount"
)

// TestLockoutsExpire drives the lockout table with explicit times: a
// counting window and a lockout each end, after which the entry is gone,
// whichever is later.
func TestLockoutsExpire(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		cfg       mount.Lockout
		failures  int
		at        time.Duration // when the table is looked at, after t0
		locked    bool
		wantSize  int
		wantNames int
	}{
		{name: "counting", cfg: mount.Lockout{Threshold: 3, Duration: time.Hour, CounterReset: time.Minute}, failures: 2, at: 30 * time.Second, wantSize: 1},
		{name: "window over", cfg: mount.Lockout{Threshold: 3, Duration: time.Hour, CounterReset: time.Minute}, failures: 2, at: 2 * time.Minute},
		{name: "locked", cfg: mount.Lockout{Threshold: 3, Duration: time.Hour, CounterReset: time.Minute}, failures: 3, at: 30 * time.Minute, locked: true, wantSize: 1, wantNames: 1},
		{name: "lockout over", cfg: mount.Lockout{Threshold: 3, Duration: time.Hour, CounterReset: time.Minute}, failures: 3, at: 61 * time.Minute},
		{name: "reset outlasts the lockout", cfg: mount.Lockout{Threshold: 1, Duration: time.Minute, CounterReset: time.Hour}, failures: 1, at: 30 * time.Minute, wantSize: 1},
		{name: "reset over", cfg: mount.Lockout{Threshold: 1, Duration: time.Minute, CounterReset: time.Hour}, failures: 1, at: 61 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := New(10)
			k := Key{Accessor: "auth_userpass_1", Name: "alice"}
			for range tt.failures {
				l.Fail(k, tt.cfg, t0)
			}
			now := t0.Add(tt.at)
			if got := len(l.LockedNames(now)["auth_userpass_1"]); got != tt.wantNames {
				t.Errorf("lockedNames at +%v lists %d, want %d", tt.at, got, tt.wantNames)
			}
			if got := l.Locked(k, now); got != tt.locked {
				t.Errorf("locked at +%v = %v, want %v", tt.at, got, tt.locked)
			}
			if got := l.Size(now); got != tt.wantSize {
				t.Errorf("size at +%v = %d, want %d", tt.at, got, tt.wantSize)
			}
		})
	}
}

// TestLockoutsSweep checks that expired entries of names never seen again
// are swept, so the table shrinks without any access to them.
func TestLockoutsSweep(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := mount.Lockout{}.WithDefaults()
	l := New(1000)
	for i := range 500 {
		l.Fail(Key{Accessor: "a", Name: fmt.Sprint(i)}, cfg, t0)
	}
	if got := l.Size(t0); got != 500 {
		t.Fatalf("size = %d, want 500", got)
	}
	later := t0.Add(cfg.CounterReset + SweepInterval)
	l.Fail(Key{Accessor: "a", Name: "fresh"}, cfg, later)
	if got := l.Size(later); got != 1 {
		t.Errorf("size after the window = %d, want 1 (the fresh entry)", got)
	}
}

// TestLockoutsCap checks that the table never holds more than its cap and
// evicts the entry whose window began first.
func TestLockoutsCap(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg := mount.Lockout{Threshold: 2}.WithDefaults()
	l := New(3)
	key := func(i int) Key { return Key{Accessor: "a", Name: fmt.Sprint(i)} }
	for i := range 10 {
		l.Fail(key(i), cfg, t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(10 * time.Second)
	if got := l.Size(now); got != 3 {
		t.Fatalf("size = %d, want the cap 3", got)
	}
	// 7, 8 and 9 remain: a second failure locks each of them.
	for i := 7; i < 10; i++ {
		if !l.Fail(key(i), cfg, now) {
			t.Errorf("second failure of %d did not lock it: its first was evicted", i)
		}
	}
	if l.Locked(key(0), now) || l.Size(now) != 3 {
		t.Errorf("locked(0) = %v, size = %d; want false, 3", l.Locked(key(0), now), l.Size(now))
	}
}
