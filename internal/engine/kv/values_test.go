package kv

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestSecretOfKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want string
		ok   bool
	}{
		{"meta/app/db", "app/db", true},
		{"ver/app/db/12", "app/db", true},
		{"ver/x/1", "x", true},
		{"ver/1", "", false},
		{"v1/team/api", "team/api", true},
		{"config", "", false},
		{"lastread/app/db", "", false},
		{"rot/app/db", "", false},
		{"life/trash/app/db", "app/db", true},
	}
	for _, tt := range tests {
		got, ok := secretOfKey(tt.key)
		if got != tt.want || ok != tt.ok {
			t.Errorf("secretOfKey(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

func TestAppendStrings(t *testing.T) {
	t.Parallel()
	data := `{"password":"pw-1","port":5432,"on":true,"nested":{"a":"x","b":[ "y", {"c":"z"} ]},"n":null}`
	got := appendStrings(nil, []byte(data), 3, false)
	slices.SortFunc(got, func(a, b logical.SecretValue) int { return strings.Compare(a.Field, b.Field) })
	want := []logical.SecretValue{
		{Field: "nested.a", Value: "x", Version: 3},
		{Field: "nested.b.0", Value: "y", Version: 3},
		{Field: "nested.b.1.c", Value: "z", Version: 3},
		{Field: "password", Value: "pw-1", Version: 3},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("appendStrings (-want +got):\n%s", d)
	}
	if got := appendStrings(nil, []byte("not json"), 1, true); got != nil {
		t.Errorf("appendStrings of bad JSON = %v, want nothing", got)
	}
}

// BenchmarkValues100k reads every value of 100,000 keys (one version of
// one 24-byte password each) as the leak index's first build does:
// ValueKeys, then SecretValues for each key.
func BenchmarkValues100k(b *testing.B) {
	st := &orderedStorage{data: map[string][]byte{}}
	meta := []byte(`{"created":1,"updated":1,"current":1,"oldest":1,"versions":[{"n":1,"created":1,"accessor":"acc"}]}`)
	for f := range 100 {
		for k := range 1000 {
			p := fmt.Sprintf("f%03d/s%04d", f, k)
			st.data[metaPrefix+p] = meta
			st.data[verKey(p, 1)] = fmt.Appendf(nil, `{"password":"pw-%021d","user":"app"}`, f*1000+k)
		}
	}
	st.keys = slices.Sorted(maps.Keys(st.data))
	env := logicaltest.NewEnv(map[string]string{"version": "2"})
	env.Storage = st
	h := logicaltest.NewHarness(b, Factory, env)
	src := h.Backend.(logical.ValueSource)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := src.ValueKeys(b.Context(), func(k string) (bool, error) {
			sv, err := src.SecretValues(b.Context(), k)
			if err != nil {
				return false, err
			}
			n += len(sv.Values)
			return true, nil
		})
		if err != nil || n != 200000 {
			b.Fatalf("read %d values, %v", n, err)
		}
	}
}
