package kv

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// referenceFields lists the fields of t (embedded structs flattened) whose
// values share memory when the struct is copied.
func referenceFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		switch {
		case f.Anonymous && f.Type.Kind() == reflect.Struct:
			out = append(out, referenceFields(f.Type)...)
		case slices.Contains([]reflect.Kind{reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Chan, reflect.Func}, f.Type.Kind()):
			out = append(out, f.Name)
		}
	}
	return out
}

// TestKeyMetaClone holds keyMeta.clone to every field that shares memory:
// a new such field fails here until clone copies it and the list below
// names it.
func TestKeyMetaClone(t *testing.T) {
	t.Parallel()
	if got, want := referenceFields(reflect.TypeFor[keyMeta]()), []string{"CustomMetadata", "Versions", "RecoveryWindowDays"}; !slices.Equal(got, want) {
		t.Fatalf("keyMeta's reference fields = %v, want %v: copy the new ones in clone", got, want)
	}
	if got := referenceFields(reflect.TypeFor[versionMeta]()); len(got) > 0 {
		t.Fatalf("versionMeta's reference fields = %v: clone copies versions by value", got)
	}
	days := 7
	m := &keyMeta{Current: 2, CustomMetadata: map[string]string{"a": "1"}, Versions: []versionMeta{{N: 1}, {N: 2}}}
	m.RecoveryWindowDays = &days
	c := m.clone()
	c.CustomMetadata["a"] = "2"
	c.Versions[0].Deleted = 5
	*c.RecoveryWindowDays = 9
	if m.CustomMetadata["a"] != "1" || m.Versions[0].Deleted != 0 || *m.RecoveryWindowDays != 7 {
		t.Fatalf("changing the clone changed the original: %+v", m)
	}
}

// TestMetaCacheFollowsStorage changes a key's metadata behind the data
// path's back (through the metadata path, and in storage directly, as
// another node would) and checks that reads and writes of data/ see it.
func TestMetaCacheFollowsStorage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	for _, v := range []string{"one", "two"} {
		h.must(req{op: opUpdate, path: "data/app", body: `{"data":{"v":"` + v + `"}}`})
	}
	read := func() string {
		t.Helper()
		b, err := json.Marshal(h.must(req{op: opRead, path: "data/app"}).Data)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); !strings.Contains(got, `"v":"two"`) {
		t.Fatalf("read = %s", got)
	}
	// Through another path of the backend, which does not use the cache.
	h.must(req{op: opUpdate, path: "metadata/app", body: `{"custom_metadata":{"owner":"ops"}}`})
	if got := read(); !strings.Contains(got, `"owner":"ops"`) {
		t.Fatalf("read after a metadata write = %s, want the new custom_metadata", got)
	}
	// In storage directly: version 1 made current again.
	st := h.Storage
	e, err := st.Get(t.Context(), metaKey("app"))
	if err != nil || e == nil {
		t.Fatalf("Get meta = %v, %v", e, err)
	}
	var m keyMeta
	if err := json.Unmarshal(e.Value, &m); err != nil {
		t.Fatal(err)
	}
	m.Current = 1
	raw, _ := json.Marshal(&m)
	if err := st.Put(t.Context(), &logical.StorageEntry{Key: metaKey("app"), Value: raw}); err != nil {
		t.Fatal(err)
	}
	if got := read(); !strings.Contains(got, `"v":"one"`) {
		t.Fatalf("read after a storage change = %s, want version 1", got)
	}
	// A write after it numbers from the stored metadata.
	resp := h.must(req{op: opUpdate, path: "data/app", body: `{"data":{"v":"three"}}`})
	if r, ok := resp.Data.(*versionResponse); !ok || r.Version != 3 {
		t.Fatalf("write = %+v, want version 3", resp.Data)
	}
	if got := read(); !strings.Contains(got, `"v":"three"`) {
		t.Fatalf("read = %s", got)
	}
}

// BenchmarkMetaCacheLoad loads the metadata of a key with ten versions,
// as every read and write of data/ does, through the cache (a hit: the
// stored bytes are compared, not decoded) and without it.
func BenchmarkMetaCacheLoad(b *testing.B) {
	h := newHarness(b, "2")
	for range 10 {
		h.must(req{op: opUpdate, path: "data/app/prod/db", body: benchSecret})
	}
	st := h.Storage
	b.Run("cache", func(b *testing.B) {
		var c metaCache
		b.ReportAllocs()
		for b.Loop() {
			if m, err := c.load(b.Context(), st, "app/prod/db"); err != nil || m == nil {
				b.Fatal(m, err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if m, err := loadMeta(b.Context(), st, "app/prod/db"); err != nil || m == nil {
				b.Fatal(m, err)
			}
		}
	})
}
