package token

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

func newStore(t *testing.T) (*Store, *inmem.Storage) {
	t.Helper()
	st := inmem.New()
	s := New(st, slog.New(slog.DiscardHandler))
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, st
}

func TestCreateLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, st := newStore(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	id, err := s.Create(ctx, "", &Entry{Policies: []string{"root"}, DisplayName: "root", TTL: time.Hour}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(id), ServicePrefix) || len(id) < len(ServicePrefix)+22 {
		t.Fatalf("Create() id has the wrong shape (length %d)", len(id))
	}
	tests := []struct {
		name string
		id   ID
		at   time.Time
		want bool
	}{
		{"valid", id, now.Add(time.Minute), true},
		{"just before expiry", id, now.Add(time.Hour - time.Nanosecond), true},
		{"at expiry", id, now.Add(time.Hour), false},
		{"unknown", "cfs.unknown", now, false},
		{"empty", "", now, false},
		{"too long", ID(strings.Repeat("a", 300)), now, false},
	}
	for _, tt := range tests {
		e, err := s.Lookup(ctx, tt.id, tt.at)
		if err != nil {
			t.Fatalf("%s: Lookup error %v", tt.name, err)
		}
		if (e != nil) != tt.want {
			t.Errorf("%s: Lookup found %v, want %v", tt.name, e != nil, tt.want)
		}
	}
	// A fresh store over the same storage (no cache) finds it too.
	s2 := New(st, slog.New(slog.DiscardHandler))
	if err := s2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if e, err := s2.Lookup(ctx, id, now); err != nil || e == nil || !e.IsRoot() {
		t.Fatalf("Lookup on reloaded store = %+v, %v", e, err)
	}
	// The token ID itself is stored nowhere.
	keys := allKeys(t, st, "")
	for _, k := range keys {
		e, _ := st.Get(ctx, k)
		if strings.Contains(k, string(id)) || bytes.Contains(e.Value, []byte(id)) {
			t.Errorf("token ID found in storage at %s", k)
		}
	}
}

func allKeys(t *testing.T, st *inmem.Storage, prefix string) []string {
	t.Helper()
	names, err := st.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, "/") {
			out = append(out, allKeys(t, st, prefix+n)...)
		} else {
			out = append(out, prefix+n)
		}
	}
	return out
}

func TestChosenIDAndRedaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	if _, err := s.Create(ctx, "has space", &Entry{}, time.Now()); err == nil {
		t.Error("Create with an ID containing white space succeeded")
	}
	id, err := s.Create(ctx, "dev-root", &Entry{Policies: []string{"root"}}, time.Now())
	if err != nil || id != "dev-root" {
		t.Fatalf("Create(dev-root) = %q, %v", id, err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", id)
	for _, out := range []string{fmt.Sprint(id), fmt.Sprintf("%v %s %#v", id, id, id), buf.String()} {
		if strings.Contains(out, "dev-root") {
			t.Errorf("token ID printed: %q", out)
		}
	}
}

func TestNotLoaded(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	s.Reset()
	if _, err := s.Lookup(context.Background(), "cfs.x", time.Now()); err == nil {
		t.Error("Lookup on a reset store succeeded")
	}
}
