package kv

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// sudoAccess is a prefixAccess whose rules may end in "+sudo"; as core's
// checker, AllowedParams needs sudo on sys/access/ paths.
type sudoAccess []string

func (a sudoAccess) rule(path string, op logical.Operation) (found, sudo bool) {
	for _, r := range a {
		o, p, _ := strings.Cut(r, ":")
		p, s := strings.CutSuffix(p, "+sudo")
		if o == string(op) && strings.HasPrefix(path, p) {
			return true, s
		}
	}
	return false, false
}

func (a sudoAccess) Allowed(path string, op logical.Operation) bool {
	ok, _ := a.rule(path, op)
	return ok
}

func (a sudoAccess) AllowedParams(path string, op logical.Operation, _ map[string]any) bool {
	ok, sudo := a.rule(path, op)
	return ok && (sudo || !strings.HasPrefix(path, "sys/access/"))
}

// TestMetadataWriters: a metadata read (and a read of a deleted key's
// metadata) names each version's writer only to a caller who may use
// sys/access/search, which answers the same (read, and sudo, which that
// path needs).
func TestMetadataWriters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	w := h.Request(opCreate, "data/app/db", `{"data":{"k":"v"}}`)
	w.Accessor, w.EntityID = "acc-writer", "ent-writer"
	if _, err := h.Send(w); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		access logical.AccessChecker
		want   bool
	}{
		{"no token", nil, false},
		{"metadata only", prefixAccess{"read:secret/metadata/"}, false},
		{"a checker that allows sys/access/search", prefixAccess{"read:sys/access/search"}, true},
		{"read without sudo", sudoAccess{"read:sys/access/search"}, false},
		{"read with sudo", sudoAccess{"read:sys/access/search+sudo"}, true},
		{"sudo elsewhere", sudoAccess{"read:sys/access/search", "read:sys/+sudo"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.Request(opRead, "metadata/app/db", "")
			r.Access = tc.access
			resp, err := h.Send(r)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(resp.Data)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{`"created_by_accessor":"acc-writer"`, `"created_by_entity_id":"ent-writer"`} {
				if got := strings.Contains(string(b), id); got != tc.want {
					t.Errorf("metadata read names %s: %v, want %v: %s", id, got, tc.want, b)
				}
			}
		})
	}
}
