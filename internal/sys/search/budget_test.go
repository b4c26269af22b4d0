package search_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coffer-secrets/coffer/internal/engine/kv"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	searchapi "github.com/coffer-secrets/coffer/internal/sys/search"
)

// rules allows an operation on a path ("op:path") or on the paths under
// a prefix ("op:prefix*"), and counts the checks.
type rules struct {
	allow []string
	calls atomic.Int64
}

func (r *rules) Allowed(path string, op logical.Operation) bool {
	r.calls.Add(1)
	for _, a := range r.allow {
		o, p, _ := strings.Cut(a, ":")
		if o != string(op) {
			continue
		}
		if pre, ok := strings.CutSuffix(p, "*"); (ok && strings.HasPrefix(path, pre)) || path == p {
			return true
		}
	}
	return false
}

// AllowedParams ignores the parameters: these rules constrain none.
func (r *rules) AllowedParams(path string, op logical.Operation, _ map[string]any) bool {
	return r.Allowed(path, op)
}

type oneMount struct{ w logical.SecretWalker }

func (c oneMount) SecretMounts() []searchapi.Mount {
	return []searchapi.Mount{{Path: "secret/", Walker: c.w}}
}

// searchPages searches with q as access, following next_after, and
// returns the paths found, the number of pages and the most ACL checks
// one page made.
func searchPages(t *testing.T, a *searchapi.API, access *rules, q url.Values) (found []string, pages int, maxChecks int64) {
	t.Helper()
	handler := a.Paths()[0].Operations[logical.ReadOperation]
	for after := ""; ; {
		q.Set("after", after)
		access.calls.Store(0)
		resp, err := handler(t.Context(), &logical.Request{Operation: logical.ReadOperation, Path: "access/search", Query: q, Access: access}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		maxChecks = max(maxChecks, access.calls.Load())
		var out struct {
			Secrets []struct {
				Mount, Path    string
				CustomMetadata map[string]string `json:"custom_metadata"`
			} `json:"secrets"`
			NextAfter string `json:"next_after"`
		}
		logicaltestDecode(t, resp, &out)
		for _, h := range out.Secrets {
			found = append(found, h.Mount+h.Path)
		}
		if out.NextAfter == "" {
			return found, pages, maxChecks
		}
		if out.NextAfter <= after {
			t.Fatalf("next_after %q does not move past %q", out.NextAfter, after)
		}
		after = out.NextAfter
	}
}

func logicaltestDecode(t *testing.T, resp *logical.Response, v any) {
	t.Helper()
	if err := jsonRoundTrip(resp.Data, v); err != nil {
		t.Fatal(err)
	}
}

// TestSearchScanBudget: a token that sees 1 of 5,000 keys gets pages
// that each examine a bounded number of keys, and finds its key by
// following next_after; a filter on metadata finds nothing for a token
// that may not read the metadata.
func TestSearchScanBudget(t *testing.T) {
	h := logicaltest.NewHarness(t, kv.Factory, logicaltest.NewEnv(map[string]string{"version": "2"}))
	for i := range 5000 {
		r := h.Request(logical.UpdateOperation, fmt.Sprintf("data/k/%04d", i), map[string]any{"data": map[string]any{"v": "x"}})
		r.Accessor = "acc-writer"
		if _, err := h.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	a := searchapi.New(searchapi.Options{Core: oneMount{h.Backend.(logical.SecretWalker)}})
	const budget = 1000 // max(10*limit, 1000) for limit 10
	tests := []struct {
		name     string
		allow    []string
		q        url.Values
		want     []string
		minPages int
	}{
		{"one key visible", []string{"list:secret/metadata/", "read:secret/data/k/3777"}, url.Values{"limit": {"10"}}, []string{"secret/k/3777"}, 5},
		{"metadata filter without metadata read", []string{"list:secret/metadata/", "read:secret/data/k/3777"}, url.Values{"limit": {"10"}, "created_by": {"acc-writer"}}, nil, 5},
		{"metadata filter with metadata read", []string{"list:secret/metadata/", "read:secret/metadata/k/3777"}, url.Values{"limit": {"10"}, "created_by": {"acc-writer"}}, []string{"secret/k/3777"}, 5},
		{"glob", []string{"list:secret/metadata/", "read:secret/data/*"}, url.Values{"limit": {"10"}, "glob": {"secret/k/37?7"}}, []string{"secret/k/3707", "secret/k/3717", "secret/k/3727", "secret/k/3737", "secret/k/3747", "secret/k/3757", "secret/k/3767", "secret/k/3777", "secret/k/3787", "secret/k/3797"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			access := &rules{allow: tc.allow}
			found, pages, maxChecks := searchPages(t, a, access, tc.q)
			if !slices.Equal(found, tc.want) {
				t.Errorf("found %d: %.200q, want %q", len(found), found, tc.want)
			}
			if pages < tc.minPages {
				t.Errorf("%d pages, want at least %d", pages, tc.minPages)
			}
			// Three checks to see a key, one for its metadata, a few
			// for the folder the walk starts in.
			if maxChecks > 4*budget+10 {
				t.Errorf("a page made %d ACL checks; the budget is %d keys", maxChecks, budget)
			}
		})
	}
}

func jsonRoundTrip(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
