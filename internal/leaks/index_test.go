package leaks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// memStorage is a map-backed [logical.Storage] for the index key.
type memStorage struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *memStorage) Get(_ context.Context, k string) (*logical.StorageEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, nil
	}
	return &logical.StorageEntry{Key: k, Value: slices.Clone(v)}, nil
}

func (s *memStorage) Put(_ context.Context, e *logical.StorageEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[e.Key] = slices.Clone(e.Value)
	return nil
}

func (s *memStorage) Delete(context.Context, string) error           { return nil }
func (s *memStorage) List(context.Context, string) ([]string, error) { return nil, nil }
func (s *memStorage) Txn(context.Context, []logical.TxnOp) error     { return nil }

// source is a [logical.ValueSource] of secrets held in a map, each one
// version whose values are field -> value.
type source struct {
	mu      sync.Mutex
	secrets map[string]map[string]string
	reads   int
	fail    error
	// onRead, when set, runs before each SecretValues, outside mu.
	onRead func(key string)
}

func newSource() *source { return &source{secrets: map[string]map[string]string{}} }

func (s *source) set(key string, values map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if values == nil {
		delete(s.secrets, key)
		return
	}
	s.secrets[key] = values
}

func (s *source) ValueKeys(_ context.Context, fn func(string) (bool, error)) error {
	s.mu.Lock()
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range s.secrets {
			if !yield(k) {
				return
			}
		}
	})
	s.mu.Unlock()
	for _, k := range keys {
		if more, err := fn(k); err != nil || !more {
			return err
		}
	}
	return nil
}

func (s *source) SecretValues(_ context.Context, key string) (*logical.SecretValues, error) {
	if s.onRead != nil {
		s.onRead(key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.fail != nil {
		return nil, s.fail
	}
	vals, ok := s.secrets[key]
	if !ok {
		return nil, nil
	}
	out := &logical.SecretValues{Kind: "kv", Path: key, ReadPath: "data/" + key}
	for f, v := range vals {
		out.Values = append(out.Values, logical.SecretValue{Field: f, Value: v, Version: 1, Current: true})
	}
	return out, nil
}

// mounts is a mutable [Mounts].
type mounts struct {
	mu sync.Mutex
	m  []Mount
}

func (m *mounts) ValueMounts() []Mount {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.m)
}

func (m *mounts) set(ms ...Mount) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m = ms
}

func sum(v string) [sha256.Size]byte { return sha256.Sum256([]byte(v)) }

// where checks values and returns, for each, "mount+path#field" of each
// place, or nil.
func where(t *testing.T, x *Index, values ...string) [][]string {
	t.Helper()
	hs := make([][sha256.Size]byte, len(values))
	for i, v := range values {
		hs[i] = sum(v)
	}
	got, err := x.Check(t.Context(), hs)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]string, len(got))
	for i, ps := range got {
		for _, p := range ps {
			out[i] = append(out[i], p.MountPath+p.Path+"#"+p.Field)
		}
		slices.Sort(out[i])
	}
	return out
}

func TestIndexFollowsChanges(t *testing.T) {
	t.Parallel()
	src, src2 := newSource(), newSource()
	src.set("a", map[string]string{"password": "alpha-password", "short": "1234567"})
	src.set("b", map[string]string{"token": "bravo-token-value", "copy": "alpha-password"})
	ms := &mounts{}
	ms.set(Mount{Accessor: "acc1", Path: "secret/", Source: src})
	st := &memStorage{}
	x := New(Options{Storage: st, Mounts: ms})

	// Before the first check nothing is tracked.
	x.ValuesChanged("acc1", "a")
	if len(x.pending) != 0 {
		t.Errorf("pending before the first build: %v", x.pending)
	}
	tests := []struct {
		name   string
		change func()
		values []string
		want   [][]string
	}{
		{
			name:   "built",
			values: []string{"alpha-password", "bravo-token-value", "1234567", "unrelated-value"},
			want:   [][]string{{"secret/a#password", "secret/b#copy"}, {"secret/b#token"}, nil, nil},
		},
		{
			name: "a write reported",
			change: func() {
				src.set("a", map[string]string{"password": "alpha-password-2"})
				x.ValuesChanged("acc1", "a")
			},
			values: []string{"alpha-password", "alpha-password-2"},
			want:   [][]string{{"secret/b#copy"}, {"secret/a#password"}},
		},
		{
			name: "a delete reported",
			change: func() {
				src.set("b", nil)
				x.ValuesChanged("acc1", "b")
			},
			values: []string{"alpha-password", "bravo-token-value"},
			want:   [][]string{nil, nil},
		},
		{
			name: "a remount keeps the secrets under the new path",
			change: func() {
				ms.set(Mount{Accessor: "acc1", Path: "kv/", Source: src})
			},
			values: []string{"alpha-password-2"},
			want:   [][]string{{"kv/a#password"}},
		},
		{
			name: "a new mount is walked",
			change: func() {
				src2.set("x", map[string]string{"k": "xray-value-1"})
				ms.set(Mount{Accessor: "acc1", Path: "kv/", Source: src}, Mount{Accessor: "acc2", Path: "other/", Source: src2})
			},
			values: []string{"xray-value-1", "alpha-password-2"},
			want:   [][]string{{"other/x#k"}, {"kv/a#password"}},
		},
		{
			name:   "an unmounted mount is dropped",
			change: func() { ms.set(Mount{Accessor: "acc2", Path: "other/", Source: src2}) },
			values: []string{"xray-value-1", "alpha-password-2"},
			want:   [][]string{{"other/x#k"}, nil},
		},
		{
			name: "a change of an unknown mount is ignored",
			change: func() {
				x.ValuesChanged("gone", "a")
			},
			values: []string{"xray-value-1"},
			want:   [][]string{{"other/x#k"}},
		},
	}
	for _, tt := range tests {
		if tt.change != nil {
			tt.change()
		}
		if d := cmp.Diff(tt.want, where(t, x, tt.values...)); d != "" {
			t.Errorf("%s: places (-want +got):\n%s", tt.name, d)
		}
	}
	if got := x.Stats(); got != (Stats{Secrets: 1, Values: 1}) {
		t.Errorf("Stats() = %+v, want one secret of one value", got)
	}

	// The key is kept: an index built again answers the same.
	key := slices.Clone(st.m[keyEntry])
	x.Reset()
	if d := cmp.Diff([][]string{{"other/x#k"}}, where(t, x, "xray-value-1")); d != "" {
		t.Errorf("after Reset (-want +got):\n%s", d)
	}
	if !slices.Equal(key, st.m[keyEntry]) {
		t.Error("the index key changed after Reset")
	}
}

func TestIndexPendingBound(t *testing.T) {
	t.Parallel()
	src := newSource()
	src.set("a", map[string]string{"v": "value-one-1"})
	ms := &mounts{}
	ms.set(Mount{Accessor: "m", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms, MaxPending: 3})
	where(t, x, "x")
	reads := src.reads
	for i := range 10 {
		x.ValuesChanged("m", fmt.Sprint("k", i))
	}
	if x.pending != nil || !x.overflow {
		t.Fatalf("after 10 changes with MaxPending 3: pending %d, overflow %v; want dropped", len(x.pending), x.overflow)
	}
	src.set("a", map[string]string{"v": "value-two-2"})
	if d := cmp.Diff([][]string{nil, {"secret/a#v"}}, where(t, x, "value-one-1", "value-two-2")); d != "" {
		t.Errorf("after the overflow (-want +got):\n%s", d)
	}
	if src.reads != reads+1 {
		t.Errorf("the rebuild read %d secrets, want 1 (the changed keys that do not exist are not read)", src.reads-reads)
	}
}

func TestIndexErrorDropsIndex(t *testing.T) {
	t.Parallel()
	src := newSource()
	src.set("a", map[string]string{"v": "value-one-1"})
	ms := &mounts{}
	ms.set(Mount{Accessor: "m", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})
	where(t, x, "x")
	boom := errors.New("storage down")
	src.fail = boom
	x.ValuesChanged("m", "a")
	if _, err := x.Check(t.Context(), [][sha256.Size]byte{sum("value-one-1")}); !errors.Is(err, boom) {
		t.Fatalf("Check with a failing source = %v, want %v", err, boom)
	}
	src.fail = nil
	if d := cmp.Diff([][]string{{"secret/a#v"}}, where(t, x, "value-one-1")); d != "" {
		t.Errorf("after the failure (-want +got):\n%s", d)
	}
}

func TestIndexBadKey(t *testing.T) {
	t.Parallel()
	st := &memStorage{m: map[string][]byte{keyEntry: []byte("short")}}
	x := New(Options{Storage: st, Mounts: &mounts{}})
	if _, err := x.Check(t.Context(), nil); err == nil {
		t.Error("Check with a stored key of 5 bytes succeeded")
	}
}

// TestIndexConcurrent runs writers and checks at once, for the race
// detector: after the writers stop, a check sees their last values.
func TestIndexConcurrent(t *testing.T) {
	t.Parallel()
	src := newSource()
	ms := &mounts{}
	ms.set(Mount{Accessor: "m", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := fmt.Sprint("w", w)
				src.set(k, map[string]string{"v": fmt.Sprintf("value-%d-%d", w, i)})
				x.ValuesChanged("m", k)
			}
		})
	}
	for range 20 {
		where(t, x, "value-0-0")
	}
	wg.Wait()
	got := where(t, x, "value-0-199", "value-3-199", "value-1-0")
	if d := cmp.Diff([][]string{{"secret/w0#v"}, {"secret/w3#v"}, nil}, got); d != "" {
		t.Errorf("after the writers (-want +got):\n%s", d)
	}
}

// oddSource reports paths that do not end in the secret's key.
type oddSource struct{ *source }

func (s oddSource) SecretValues(ctx context.Context, key string) (*logical.SecretValues, error) {
	sv, err := s.source.SecretValues(ctx, key)
	if sv != nil {
		sv.Kind, sv.Path, sv.ReadPath = "odd", "items/"+key+"/value", "read/"+key+"/now"
	}
	return sv, err
}

func TestIndexPaths(t *testing.T) {
	t.Parallel()
	plain, odd := newSource(), newSource()
	plain.set("app/db", map[string]string{"password": "plain-password"})
	odd.set("x", map[string]string{"v": "odd-value-123"})
	ms := &mounts{}
	ms.set(Mount{Accessor: "a", Path: "secret/", Source: plain}, Mount{Accessor: "b", Path: "other/", Source: oddSource{odd}})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})
	got, err := x.Check(t.Context(), [][sha256.Size]byte{sum("plain-password"), sum("odd-value-123")})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]Place{
		{{MountAccessor: "a", MountPath: "secret/", Kind: "kv", Path: "app/db", ReadPath: "secret/data/app/db", Field: "password", Version: 1, Current: true}},
		{{MountAccessor: "b", MountPath: "other/", Kind: "odd", Path: "items/x/value", ReadPath: "other/read/x/now", Field: "v", Version: 1, Current: true}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("places (-want +got):\n%s", d)
	}
}

// TestIndexDedupesAndCapsPlaces checks that a value a secret holds many
// times is one place, that a value held by many secrets keeps at most
// MaxPlaces places (and counts the others), and that taking secrets out
// keeps the count right.
func TestIndexDedupesAndCapsPlaces(t *testing.T) {
	t.Parallel()
	src := newSource()
	many := map[string]string{}
	for i := range 2000 {
		many[fmt.Sprintf("f.%d", i)] = "same-value-xx"
	}
	src.set("dup", many)
	const shared = 3 * MaxPlaces
	for i := range shared {
		src.set(fmt.Sprintf("s%03d", i), map[string]string{"v": "shared-value-1"})
	}
	ms := &mounts{}
	ms.set(Mount{Accessor: "acc1", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})

	got := where(t, x, "same-value-xx", "shared-value-1")
	if d := cmp.Diff([]string{"secret/dup#f.0"}, got[0]); d != "" {
		t.Errorf("a value held 2000 times by one secret: one place, under its first field in byte order (-want +got):\n%s", d)
	}
	if len(got[1]) != MaxPlaces {
		t.Errorf("a value held by %d secrets: %d places, want %d", shared, len(got[1]), MaxPlaces)
	}
	if st := x.Stats(); st.Values != 1+shared {
		t.Errorf("Stats().Values = %d, want %d", st.Values, 1+shared)
	}
	// Take every holder of the shared value out, kept or counted.
	for i := range shared {
		key := fmt.Sprintf("s%03d", i)
		src.set(key, nil)
		x.ValuesChanged("acc1", key)
	}
	src.set("dup", map[string]string{"f.0": "same-value-xx", "g": "shared-value-1"})
	x.ValuesChanged("acc1", "dup")
	got = where(t, x, "same-value-xx", "shared-value-1")
	if d := cmp.Diff([][]string{{"secret/dup#f.0"}, {"secret/dup#g"}}, got); d != "" {
		t.Errorf("after the removals (-want +got):\n%s", d)
	}
	if st := x.Stats(); st != (Stats{Secrets: 1, Values: 2}) {
		t.Errorf("Stats() = %+v, want 1 secret, 2 values", st)
	}
}

// TestIndexOverflowDuringRefresh checks that a check during whose walk
// the pending set overflows builds again instead of answering from an
// index that missed changes.
func TestIndexOverflowDuringRefresh(t *testing.T) {
	t.Parallel()
	src := newSource()
	src.set("a", map[string]string{"p": "old-value-aaa"})
	src.set("b", map[string]string{"p": "bravo-value-1"})
	ms := &mounts{}
	ms.set(Mount{Accessor: "acc1", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms, MaxPending: 2})
	if got := where(t, x, "old-value-aaa"); len(got[0]) != 1 {
		t.Fatalf("first build: %v", got)
	}
	// A new mount's walk reads "b" of src2; while it does, "a" changes
	// and more changes than MaxPending come.
	src2 := newSource()
	src2.set("z", map[string]string{"p": "zulu-value-1"})
	var once sync.Once
	src2.onRead = func(string) {
		once.Do(func() {
			src.set("a", map[string]string{"p": "new-value-aaa"})
			x.ValuesChanged("acc1", "a")
			for i := range 3 {
				x.ValuesChanged("acc1", fmt.Sprintf("other%d", i))
			}
		})
	}
	ms.set(Mount{Accessor: "acc1", Path: "secret/", Source: src}, Mount{Accessor: "acc2", Path: "other/", Source: src2})
	got := where(t, x, "old-value-aaa", "new-value-aaa", "zulu-value-1")
	if d := cmp.Diff([][]string{nil, {"secret/a#p"}, {"other/z#p"}}, got); d != "" {
		t.Errorf("after an overflow during the walk (-want +got):\n%s", d)
	}
}

// TestIndexBuildOutlivesCheck checks that a check whose caller gives up
// during the build answers ErrBuilding (a 503) at once, leaving the
// build to the index's goroutine, and that the next check finds the
// build done instead of starting it again.
func TestIndexBuildOutlivesCheck(t *testing.T) {
	t.Parallel()
	src := newSource()
	src.set("a", map[string]string{"p": "alpha-value-1"})
	src.set("b", map[string]string{"p": "bravo-value-1"})
	gate, reading := make(chan struct{}), make(chan struct{})
	var once sync.Once
	src.onRead = func(string) {
		once.Do(func() { close(reading) })
		<-gate
	}
	ms := &mounts{}
	ms.set(Mount{Accessor: "acc1", Path: "secret/", Source: src})
	x := New(Options{Storage: &memStorage{}, Mounts: ms})

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := x.Check(ctx, [][sha256.Size]byte{sum("alpha-value-1")})
		errc <- err
	}()
	<-reading // the build is under way, blocked on the source
	cancel()
	if err := <-errc; !errors.Is(err, logical.ErrUnavailable) {
		t.Fatalf("Check given up during the build = %v, want ErrUnavailable", err)
	}
	close(gate)
	if got := where(t, x, "alpha-value-1", "bravo-value-1"); len(got[0]) != 1 || len(got[1]) != 1 {
		t.Errorf("after the build: %v", got)
	}
	src.mu.Lock()
	reads := src.reads
	src.mu.Unlock()
	if reads != 2 {
		t.Errorf("%d secret reads, want 2: the build was started again", reads)
	}
}
