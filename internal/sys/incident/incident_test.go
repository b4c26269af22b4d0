package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// fakeCore is a token tree in memory whose revocations fail while
// failRevoke is set.
type fakeCore struct {
	mu         sync.Mutex
	tokens     map[string]incident.Token
	disabled   map[string]bool
	destroyed  []string
	failRevoke bool
}

func (f *fakeCore) Caller(context.Context) incident.Actor { return incident.Actor{Accessor: "root"} }
func (f *fakeCore) Tokens(context.Context) ([]incident.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []incident.Token
	for _, t := range f.tokens {
		out = append(out, t)
	}
	return out, nil
}
func (f *fakeCore) TokenLeases(_ context.Context, h string) ([]string, error) {
	return []string{"db/creds/app/" + h}, nil
}
func (f *fakeCore) RevokeToken(_ context.Context, h string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRevoke {
		return errors.New("storage unreachable")
	}
	var drop func(string)
	drop = func(h string) {
		delete(f.tokens, h)
		for k, t := range f.tokens {
			if t.ParentHash == h {
				drop(k)
			}
		}
	}
	drop(h)
	return nil
}
func (f *fakeCore) Entity(_ context.Context, id string) (bool, bool, error) {
	return true, f.disabled[id], nil
}
func (f *fakeCore) SetEntityDisabled(_ context.Context, id string, d bool) error {
	f.disabled[id] = d
	return nil
}
func (f *fakeCore) DestroySecretID(_ context.Context, _, _, acc string) (bool, error) {
	f.destroyed = append(f.destroyed, acc)
	return true, nil
}
func (f *fakeCore) AuditHashes(_ context.Context, _ string, v []string) ([]string, error) {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = "hmac-sha256:" + s
	}
	return out, nil
}

func call(t *testing.T, b *framework.Backend, op logical.Operation, path string, body any) (*logical.Response, error) {
	t.Helper()
	raw, _ := json.Marshal(body)
	return b.HandleRequest(t.Context(), &logical.Request{Operation: op, Path: path, Body: raw})
}

func record(t *testing.T, resp *logical.Response) *incident.Record {
	t.Helper()
	r, ok := resp.Data.(*incident.Record)
	if !ok {
		t.Fatalf("response data = %T", resp.Data)
	}
	return r
}

func TestContainRetriesFailedSteps(t *testing.T) {
	t.Parallel()
	fc := &fakeCore{disabled: map[string]bool{}, failRevoke: true, tokens: map[string]incident.Token{
		"h1": {Hash: "h1", Accessor: "a1", EntityID: "e1", Path: "auth/approle/login", Mount: "auth/approle/", Meta: map[string]string{"role_name": "pay"}, InternalData: map[string]string{"secret_id_accessor": "sid1"}},
		"h2": {Hash: "h2", ParentHash: "h1", Accessor: "a2", Path: "auth/token/create"},
		"h3": {Hash: "h3", Accessor: "a3", EntityID: "e1", Path: "auth/approle/login"},
		"h4": {Hash: "h4", Accessor: "a4", EntityID: "e2", Path: "auth/approle/login"},
	}}
	n := 0
	api := New(Options{Storage: logicaltest.NewStorage(), Core: fc, NewID: func() string { n++; return fmt.Sprint("inc", n) }})
	b := &framework.Backend{Paths: api.Paths()}
	if err := api.Load(t.Context()); err != nil {
		t.Fatal(err)
	}

	resp, err := call(t, b, logical.UpdateOperation, "incident/contain", map[string]any{"accessor": "a1", "role": "auth/approle/role/pay"})
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, resp)
	if len(r.Failed()) != 2 || len(resp.Warnings) != 1 {
		t.Fatalf("failed steps = %+v, warnings %v; want the two revocations failed", r.Failed(), resp.Warnings)
	}
	if !fc.disabled["e1"] || fc.disabled["e2"] || !slices.Equal(fc.destroyed, []string{"sid1"}) {
		t.Errorf("disabled %v, destroyed %v", fc.disabled, fc.destroyed)
	}
	if !api.Guard().LoginBlocked("auth/approle/", map[string]string{"role_name": "pay"}, nil) {
		t.Error("the role is not blocked")
	}

	fc.failRevoke = false
	resp, err = call(t, b, logical.UpdateOperation, "incident/contain", map[string]any{"id": r.ID})
	if err != nil {
		t.Fatal(err)
	}
	r = record(t, resp)
	if len(r.Failed()) != 0 {
		t.Errorf("failed steps after retry = %+v", r.Failed())
	}
	if got := r.Accessors(); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"a1", "a2", "a3"}) {
		t.Errorf("revoked = %v, want a1, its child a2 and a3 of the same entity", got)
	}
	for _, s := range r.Steps {
		if s.Action == "revoke-token" && s.Attempts != 2 {
			t.Errorf("step %+v: want 2 attempts", s)
		}
	}
	if _, ok := fc.tokens["h4"]; !ok {
		t.Error("another identity's token was revoked")
	}

	for _, tt := range []struct {
		name string
		body map[string]any
	}{
		{"no criteria", map[string]any{"reason": "x"}},
		{"id and criteria", map[string]any{"id": r.ID, "accessor": "a9"}},
		{"bad role", map[string]any{"role": "approle/pay"}},
		{"bad since", map[string]any{"accessor": "a9", "since": "yesterday"}},
		{"unknown id", map[string]any{"id": "nope"}},
	} {
		if _, err := call(t, b, logical.UpdateOperation, "incident/contain", tt.body); !errors.Is(err, logical.ErrInvalidRequest) && !errors.Is(err, logical.ErrNotFound) {
			t.Errorf("%s: error = %v, want a 400 or 404", tt.name, err)
		}
	}

	resp, err = call(t, b, logical.UpdateOperation, "incident/release", map[string]any{"id": r.ID})
	if err != nil {
		t.Fatal(err)
	}
	if r = record(t, resp); r.Status != incident.StatusReleased || fc.disabled["e1"] {
		t.Errorf("after release: status %s, e1 disabled %v", r.Status, fc.disabled["e1"])
	}
	if !api.Guard().Empty() {
		t.Error("the guard still blocks after release")
	}
	if _, err := call(t, b, logical.UpdateOperation, "incident/contain", map[string]any{"id": r.ID}); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("re-run of a released incident error = %v", err)
	}
	resp, err = call(t, b, logical.UpdateOperation, "incident/"+r.ID+"/audit-hashes", map[string]any{"device": "file"})
	if err != nil || len(resp.Data.(map[string]any)["accessors"].([]string)) != 3 {
		t.Errorf("audit-hashes = %+v, %v", resp, err)
	}
}

func TestLockdownAPI(t *testing.T) {
	t.Parallel()
	api := New(Options{Storage: logicaltest.NewStorage(), Core: &fakeCore{}, NewID: func() string { return "x" }})
	b := &framework.Backend{Paths: api.Paths()}
	tests := []struct {
		name    string
		op      logical.Operation
		body    map[string]any
		wantErr bool
		denied  bool // secret/data/a/x refused for a write afterwards
	}{
		{"empty prefix", logical.UpdateOperation, map[string]any{"prefix": "/"}, true, false},
		{"dot segment", logical.UpdateOperation, map[string]any{"prefix": "secret/../sys"}, true, false},
		{"bad mode", logical.UpdateOperation, map[string]any{"prefix": "secret/", "mode": "off"}, true, false},
		{"read-only", logical.UpdateOperation, map[string]any{"prefix": "secret/data/a"}, false, true},
		{"lift other", logical.DeleteOperation, map[string]any{"prefix": "secret/data/b"}, false, true},
		{"lift", logical.DeleteOperation, map[string]any{"prefix": "secret/data/a/"}, false, false},
	}
	for _, tt := range tests {
		_, err := call(t, b, tt.op, "incident/lockdown", tt.body)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
		if got := api.Guard().LockedDown("secret/data/a/x", false); got != tt.denied {
			t.Errorf("%s: write locked down = %v, want %v", tt.name, got, tt.denied)
		}
	}
}
