package kv

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
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
		{"life/trash/app/db", "", false},
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
