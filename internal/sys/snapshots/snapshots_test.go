package snapshots

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/snapshot"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// testCore is a [Core] over in-memory storage; Install applies the
// entries as the server would, without reloading anything.
type testCore struct {
	phys       *inmem.Storage
	keyringErr error // what CheckKeyring answers
	installed  []bool
}

func (tc *testCore) Header() (snapshot.Header, error) {
	return snapshot.Header{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), StorageType: "inmem"}, nil
}

func (tc *testCore) Physical() storage.Storage { return tc.phys }

func (tc *testCore) CheckKeyring([]byte) error { return tc.keyringErr }

func (tc *testCore) Install(ctx context.Context, rs storage.Restorer, entries iter.Seq2[storage.Entry, error], _ snapshot.Header, force bool) error {
	tc.installed = append(tc.installed, force)
	return rs.Restore(ctx, entries)
}

func put(t *testing.T, st storage.Storage, kv ...string) {
	t.Helper()
	for i := 0; i < len(kv); i += 2 {
		if err := st.Put(t.Context(), &storage.Entry{Key: kv[i], Value: []byte(kv[i+1])}); err != nil {
			t.Fatal(err)
		}
	}
}

// saved returns a snapshot of a storage holding kv.
func saved(t *testing.T, kv ...string) []byte {
	t.Helper()
	src := &testCore{phys: inmem.New()}
	put(t, src.phys, kv...)
	var buf bytes.Buffer
	hdr, err := New(src).Write(t.Context(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.KeyCount != int64(len(kv)/2) || hdr.StorageType != "inmem" {
		t.Fatalf("header = %+v", hdr)
	}
	return buf.Bytes()
}

func TestRestore(t *testing.T) {
	t.Parallel()
	initialized := []string{barrier.KeyringPath, "k", barrier.SealConfigPath, "c", barrier.RootKeyPath, "r", "logical/x", "data"}
	good := saved(t, initialized...)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff
	tests := []struct {
		name       string
		file       []byte
		keyringErr error
		force      bool
		wantErr    string // "" when the snapshot is installed
	}{
		{"same keys", good, nil, false, ""},
		{"other keys refused", good, barrier.ErrBadKey, false, "taken with different keys"},
		{"other keys forced", good, barrier.ErrBadKey, true, ""},
		{"corrupt", corrupt, nil, false, "nothing was restored"},
		{"truncated", good[:len(good)-10], nil, false, "nothing was restored"},
		{"not initialized", saved(t, "logical/x", "data"), nil, true, "holds no initialized server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := &testCore{phys: inmem.New(), keyringErr: tt.keyringErr}
			put(t, dst.phys, "logical/old", "old")
			err := New(dst).Restore(t.Context(), bytes.NewReader(tt.file), tt.force)
			old, gerr := dst.phys.Get(t.Context(), "logical/old")
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.wantErr != "" {
				if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Restore = %v, want an invalid request containing %q", err, tt.wantErr)
				}
				if len(dst.installed) != 0 || old == nil {
					t.Fatal("a refused snapshot changed the storage")
				}
				return
			}
			if err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if len(dst.installed) != 1 || dst.installed[0] != tt.force || old != nil {
				t.Fatalf("installed %v, old key %v; want one install with force %v replacing everything", dst.installed, old, tt.force)
			}
			e, err := dst.phys.Get(t.Context(), "logical/x")
			if err != nil || e == nil || string(e.Value) != "data" {
				t.Fatalf("restored logical/x = %v, %v", e, err)
			}
		})
	}
}
