package kv

import (
	"errors"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// updatedTime reads metadata/k's updated_time.
func (h *harness) updatedTime(t *testing.T) string {
	t.Helper()
	resp, err := h.send(t, xreq{op: opRead, path: "metadata/k"})
	if err != nil || resp == nil {
		t.Fatalf("read metadata/k: %v", err)
	}
	s, _ := resp.Data.(*metadataResponse)
	if s == nil {
		t.Fatalf("metadata read answered %T", resp.Data)
	}
	return s.UpdatedTime
}

// TestExpectUpdatedTime: ?expect_updated_time makes a metadata write,
// patch or delete apply only to the metadata the client read ("none": no
// key), a conflict otherwise that changes nothing.
func TestExpectUpdatedTime(t *testing.T) {
	t.Parallel()
	const stale = "2001-01-01T00:00:00Z"
	tests := []struct {
		name     string
		exists   bool
		op       logical.Operation
		expect   string // "current": the updated_time read before
		conflict bool
	}{
		{name: "create new", op: opUpdate, expect: expectNone},
		{name: "create existing", exists: true, op: opUpdate, expect: expectNone, conflict: true},
		{name: "write current", exists: true, op: opUpdate, expect: "current"},
		{name: "write stale", exists: true, op: opUpdate, expect: stale, conflict: true},
		{name: "write missing", op: opUpdate, expect: stale, conflict: true},
		{name: "patch current", exists: true, op: opPatch, expect: "current"},
		{name: "patch stale", exists: true, op: opPatch, expect: stale, conflict: true},
		{name: "patch none existing", exists: true, op: opPatch, expect: expectNone, conflict: true},
		{name: "delete current", exists: true, op: opDelete, expect: "current"},
		{name: "delete stale", exists: true, op: opDelete, expect: stale, conflict: true},
		{name: "delete missing", op: opDelete, expect: stale, conflict: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, "2")
			expect := tt.expect
			if tt.exists {
				h.must(req{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`})
				if expect == "current" {
					expect = h.updatedTime(t)
				}
			}
			before := h.Storage.Snapshot()
			r := xreq{op: tt.op, path: "metadata/k", query: "expect_updated_time=" + expect}
			if tt.op != opDelete {
				r.body = `{"custom_metadata":{"a":"b"}}`
			}
			_, err := h.send(t, r)
			if tt.conflict {
				if !errors.Is(err, logical.ErrConflict) {
					t.Fatalf("%s with expect_updated_time=%s: err %v, want a conflict", tt.op, expect, err)
				}
				h.Unchanged(tt.name, before)
				return
			}
			if err != nil {
				t.Fatalf("%s with expect_updated_time=%s: %v", tt.op, expect, err)
			}
		})
	}
}

// TestUpdatedTimeMoves: every change of a key moves updated_time forward,
// even on a clock that does not move, so that it names one state.
func TestUpdatedTimeMoves(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "2")
	seen := map[string]bool{}
	for _, r := range []xreq{
		{op: opUpdate, path: "metadata/k", body: `{"max_versions":3}`},
		{op: opUpdate, path: "data/k", body: `{"data":{"v":1}}`},
		{op: opPatch, path: "metadata/k", body: `{"custom_metadata":{"a":"b"}}`},
		{op: opUpdate, path: "data/k", body: `{"data":{"v":2}}`},
		{op: opUpdate, path: "metadata/k", body: `{"max_versions":4}`},
	} {
		if _, err := h.send(t, r); err != nil {
			t.Fatalf("%s %s: %v", r.op, r.path, err)
		}
		u := h.updatedTime(t)
		if seen[u] {
			t.Errorf("after %s %s updated_time %s was seen before", r.op, r.path, u)
		}
		seen[u] = true
	}
}

// TestExpectNoneConcurrent: of many concurrent creates of one key with
// expect_updated_time=none exactly one succeeds; the others conflict.
func TestExpectNoneConcurrent(t *testing.T) {
	t.Parallel()
	h := newSlowHarness(t, "2")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = h.send(t, xreq{op: opUpdate, path: "metadata/k", query: "expect_updated_time=none", body: `{"custom_metadata":{"a":"b"}}`})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, logical.ErrConflict):
			t.Errorf("create: %v, want success or a conflict", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creates succeeded, want 1", won)
	}
}
