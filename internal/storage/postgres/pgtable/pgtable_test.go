package pgtable

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
		qualOK   bool // CheckQualified
	}{
		{name: "default", in: "coffer_kv", ok: true, qualOK: true},
		{name: "vault default", in: "vault_kv_store", ok: true, qualOK: true},
		{name: "underscore first", in: "_kv", ok: true, qualOK: true},
		{name: "digits after", in: "kv2", ok: true, qualOK: true},
		{name: "longest", in: strings.Repeat("a", 48), ok: true, qualOK: true},
		{name: "too long", in: strings.Repeat("a", 49)},
		{name: "upper case", in: "Coffer_KV", qualOK: true},
		{name: "schema", in: "coffer.kv", qualOK: true},
		{name: "upper schema", in: "Coffer.KV", qualOK: true},
		{name: "long schema", in: strings.Repeat("s", 63) + ".kv", qualOK: true},
		{name: "schema too long", in: strings.Repeat("s", 64) + ".kv"},
		{name: "schema, table too long", in: "s." + strings.Repeat("a", 49)},
		{name: "two dots", in: "a.b.c"},
		{name: "empty schema", in: ".kv"},
		{name: "empty table", in: "coffer."},
		{name: "empty", in: ""},
		{name: "digit first", in: "1kv"},
		{name: "digit-first schema", in: "1s.kv"},
		{name: "space", in: "kv store"},
		{name: "quote", in: `kv"`},
		{name: "injection", in: "Robert'); DROP TABLE students;--"},
		{name: "dash", in: "coffer-kv"},
		{name: "non-ASCII", in: "kvé"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := Check(tt.in); (err == nil) != tt.ok {
				t.Errorf("Check(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			} else if err != nil && !strings.Contains(err.Error(), "want a lowercase letter") {
				t.Errorf("Check(%q) = %v, want it to say what to write", tt.in, err)
			}
			if err := CheckQualified(tt.in); (err == nil) != tt.qualOK {
				t.Errorf("CheckQualified(%q) = %v, want ok=%v", tt.in, err, tt.qualOK)
			}
		})
	}
}

// TestQualifiedTableOpens checks the promise between the two: a table that
// passes CheckQualified passes Check once the server has taken the schema
// off and lowercased it.
func TestQualifiedTableOpens(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"KV", "coffer.kv", "Coffer.Vault_KV_Store", strings.Repeat("A", 48)} {
		if err := CheckQualified(in); err != nil {
			t.Fatalf("CheckQualified(%q) = %v", in, err)
		}
		lower := strings.ToLower(in)
		if _, table, ok := strings.Cut(lower, "."); ok {
			lower = table
		}
		if err := Check(lower); err != nil {
			t.Errorf("CheckQualified(%q) passed but Check(%q) = %v", in, lower, err)
		}
	}
}
