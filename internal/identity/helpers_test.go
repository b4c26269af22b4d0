package identity

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// Auth mount accessors the fake mount table knows.
const (
	accUserpass = "auth_userpass_0a1b2c3d"
	accApprole  = "auth_approle_4e5f6a7b"
)

// testMounts is a fixed mount table.
func testMounts(accessor string) (path, mountType string, ok bool) {
	switch accessor {
	case accUserpass:
		return "auth/userpass/", "userpass", true
	case accApprole:
		return "auth/approle/", "approle", true
	}
	return "", "", false
}

// factory builds a store on a logicaltest environment, for logicaltest.Run.
func factory(ctx context.Context, env logical.Env) (logical.Backend, error) {
	return New(ctx, Options{Storage: env.Storage, Logger: env.Logger, Clock: env.Clock, Mounts: testMounts})
}

// harness drives one store through HandleRequest. vars holds IDs captured
// by earlier steps; "{name}" in paths, bodies and wanted JSON is replaced
// by vars[name].
type harness struct {
	*logicaltest.Harness
	s    *Store // the Backend
	vars map[string]string
}

// testTime is the stopped clock of a harness's store.
var testTime = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newHarness(t testing.TB) *harness {
	t.Helper()
	env := logicaltest.NewEnv(nil)
	env.Clock = logicaltest.NewClock(testTime)
	lh := logicaltest.NewHarness(t, factory, env)
	return &harness{Harness: lh, s: lh.Backend.(*Store), vars: map[string]string{}}
}

// use makes s the store under test, as after a restart.
func (h *harness) use(s *Store) {
	h.s = s
	h.Backend = s
}

func newStore(t testing.TB, st logical.Storage) *Store {
	t.Helper()
	s, err := New(t.Context(), Options{
		Storage: st,
		Logger:  slog.New(slog.DiscardHandler),
		Clock:   logicaltest.NewClock(testTime),
		Mounts:  testMounts,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func (h *harness) expand(s string) string {
	for k, v := range h.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// do sends one request.
func (h *harness) do(op logical.Operation, path, body string) (*logical.Response, error) {
	h.T.Helper()
	return h.Do(op, h.expand(path), h.expand(body))
}

// must sends one request that must succeed and returns its data as JSON
// fields ("" data gives nil).
func (h *harness) must(op logical.Operation, path, body string) map[string]any {
	h.T.Helper()
	resp, err := h.do(op, path, body)
	if err != nil {
		h.T.Fatalf("%s %s: %v", op, h.expand(path), err)
	}
	return fields(h.T, resp)
}

// create writes and records the returned "id" as vars[name].
func (h *harness) create(name, path, body string) string {
	h.T.Helper()
	got := h.must(logical.UpdateOperation, path, body)
	id, _ := got["id"].(string)
	if id == "" {
		h.T.Fatalf("POST %s: no id in %v", path, got)
	}
	h.vars[name] = id
	return id
}

// fields returns resp's data decoded as a JSON object, or nil.
func fields(t testing.TB, resp *logical.Response) map[string]any {
	t.Helper()
	m, _ := logicaltest.Data(t, resp).(map[string]any)
	return m
}

// step is one row of an endpoint table.
type step struct {
	name    string
	op      logical.Operation
	path    string
	body    string
	want    string // JSON object: the response must have these fields; "null" for no data
	wantErr error
	// wantWarn, when set, must be one of the response's warnings.
	wantWarn string
}

// run executes steps in order; each is a subtest, but later steps may
// depend on earlier ones, so they do not run in parallel.
func (h *harness) run(t *testing.T, steps []step) {
	t.Helper()
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			h.T = t
			resp, err := h.do(tt.op, tt.path, tt.body)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s %s: error = %v, want %v", tt.op, h.expand(tt.path), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s %s: %v", tt.op, h.expand(tt.path), err)
			}
			h.check(t, tt.op, tt.path, resp, tt.want)
			if tt.wantWarn != "" && (resp == nil || !slices.Contains(resp.Warnings, tt.wantWarn)) {
				t.Errorf("%s %s: warnings %v, want %q", tt.op, h.expand(tt.path), resp, tt.wantWarn)
			}
		})
	}
}

// check compares the fields named in want with resp's data.
func (h *harness) check(t testing.TB, op logical.Operation, path string, resp *logical.Response, want string) {
	t.Helper()
	got := fields(t, resp)
	if want == "" {
		return
	}
	if want == "null" {
		if got != nil {
			t.Errorf("%s %s = %v, want no data", op, h.expand(path), got)
		}
		return
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(h.expand(want)), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if got == nil {
		t.Fatalf("%s %s = no data, want %s", op, h.expand(path), h.expand(want))
	}
	for k, wv := range w {
		if diff := cmp.Diff(wv, got[k]); diff != "" {
			t.Errorf("%s %s: field %q mismatch (-want +got):\n%s", op, h.expand(path), k, diff)
		}
	}
}
