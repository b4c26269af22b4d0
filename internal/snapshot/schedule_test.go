package snapshot

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSchedulerRetainsNewest(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "snaps")
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var successes []time.Time
	s, err := NewScheduler(ScheduleOptions{
		Dir: dir, Interval: time.Hour, Retain: 2,
		Save: func(_ context.Context, w io.Writer) error {
			_, err := Write(context.Background(), w, Header{}, testRecords(2))
			return err
		},
		OnSuccess: func(at time.Time) { successes = append(successes, at) },
		Now:       func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for range 4 {
		p, err := s.SaveNow(t.Context())
		if err != nil {
			t.Fatalf("SaveNow() = %v", err)
		}
		paths = append(paths, p)
		now = now.Add(time.Hour)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	if want := paths[2:]; !slices.Equal(got, want) {
		t.Errorf("files = %v, want the newest two %v", got, want)
	}
	if len(successes) != 4 {
		t.Errorf("OnSuccess called %d times, want 4", len(successes))
	}
	if info, err := os.Stat(paths[3]); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("Stat(newest) = %v, %v; want mode 0600", info, err)
	}
	f, _ := os.Open(paths[3])
	defer f.Close()
	if _, _, err := readAllReader(f); err != nil {
		t.Errorf("newest snapshot does not read back: %v", err)
	}
}

func TestSchedulerFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{"skip", ErrSkip},
		{"failure", errors.New("storage went away")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s, err := NewScheduler(ScheduleOptions{
				Dir: dir, Interval: time.Hour, Retain: 1,
				Save: func(_ context.Context, w io.Writer) error { w.Write([]byte("partial")); return tt.err },
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SaveNow(t.Context()); !errors.Is(err, tt.err) {
				t.Errorf("SaveNow() = %v, want %v", err, tt.err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
				t.Errorf("files left = %v, want none", left)
			}
		})
	}
}

func TestNewSchedulerChecksOptions(t *testing.T) {
	t.Parallel()
	save := func(context.Context, io.Writer) error { return nil }
	tests := []struct {
		name string
		opts ScheduleOptions
		want string
	}{
		{"no dir", ScheduleOptions{Interval: time.Hour, Retain: 1, Save: save}, "directory"},
		{"no interval", ScheduleOptions{Dir: "x", Retain: 1, Save: save}, "interval"},
		{"no retain", ScheduleOptions{Dir: "x", Interval: time.Hour, Save: save}, "retain"},
		{"no save", ScheduleOptions{Dir: "x", Interval: time.Hour, Retain: 1}, "save"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewScheduler(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewScheduler() = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestSchedulerRemovesCrashLeftovers: a temporary file a crash left behind
// (atomicfile's ".NAME.tmp-*") is removed once it is older than an interval
// and an hour; a recent one, perhaps still being written, is kept.
func TestSchedulerRemovesCrashLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	old := filepath.Join(dir, ".coffer-snapshot-20240101T000000Z.snap.tmp-123")
	recent := filepath.Join(dir, ".coffer-snapshot-20240101T010000Z.snap.tmp-456")
	for _, p := range []string{old, recent} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, now.Add(-3*time.Hour), now.Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	s, err := NewScheduler(ScheduleOptions{
		Dir: dir, Interval: time.Hour, Retain: 1,
		Save: func(_ context.Context, w io.Writer) error {
			_, err := Write(context.Background(), w, Header{}, testRecords(1))
			return err
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveNow(t.Context()); err != nil {
		t.Fatalf("SaveNow() = %v", err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old leftover %s: Stat = %v, want it removed", old, err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("recent temporary file %s: Stat = %v, want it kept", recent, err)
	}
}
