package incident

import (
	"fmt"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

func TestRecordRotations(t *testing.T) {
	t.Parallel()
	fc := &fakeCore{disabled: map[string]bool{}, tokens: map[string]incident.Token{
		"h1": {Hash: "h1", Accessor: "a1", EntityID: "e1", Path: "auth/approle/login"},
	}}
	api := New(Options{Storage: logicaltest.NewStorage(), Core: fc, NewID: func() string { return "inc1" }})
	b := &framework.Backend{Paths: api.Paths()}
	if _, err := call(t, b, logical.UpdateOperation, "incident/contain", map[string]any{"accessor": "a1"}); err != nil {
		t.Fatal(err)
	}
	step := func(action, target, outcome string) map[string]any {
		return map[string]any{"action": action, "target": target, "outcome": outcome}
	}
	bad := []struct {
		name string
		path string
		body any
		kind error
	}{
		{"no steps", "incident/inc1/rotations", map[string]any{}, logical.ErrInvalidRequest},
		{"unknown action", "incident/inc1/rotations", map[string]any{"steps": []any{step("explode", "x", "ok")}}, logical.ErrInvalidRequest},
		{"no target", "incident/inc1/rotations", map[string]any{"steps": []any{step(incident.ActionRotateKV, "", "ok")}}, logical.ErrInvalidRequest},
		{"bad outcome", "incident/inc1/rotations", map[string]any{"steps": []any{step(incident.ActionRotateKV, "x", "done")}}, logical.ErrInvalidRequest},
		{"long detail", "incident/inc1/rotations", map[string]any{"steps": []any{map[string]any{"action": incident.ActionChange, "target": "x", "outcome": "manual", "detail": strings.Repeat("d", maxRotationField)}}}, logical.ErrInvalidRequest},
		{"too many", "incident/inc1/rotations", map[string]any{"steps": func() []any {
			out := make([]any, maxRotationSteps+1)
			for i := range out {
				out[i] = step(incident.ActionRotateKV, fmt.Sprint(i), "ok")
			}
			return out
		}()}, logical.ErrInvalidRequest},
		{"unknown incident", "incident/nope/rotations", map[string]any{"steps": []any{step(incident.ActionRotateKV, "x", "ok")}}, logical.ErrNotFound},
	}
	for _, tt := range bad {
		_, err := call(t, b, logical.UpdateOperation, tt.path, tt.body)
		logicaltest.WantKind(t, tt.name, err, tt.kind)
	}
	resp, err := call(t, b, logical.ReadOperation, "incident/inc1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := record(t, resp); len(r.Rotations) != 0 {
		t.Fatalf("refused requests recorded %+v", r.Rotations)
	}

	// A failed step, retried: one step per (action, target), its attempts
	// counted.
	for _, outcome := range []string{incident.OutcomeFailed, incident.OutcomeOK} {
		if _, err := call(t, b, logical.UpdateOperation, "incident/inc1/rotations", map[string]any{"steps": []any{
			step(incident.ActionRotateKV, "secret/data/a", outcome),
			map[string]any{"action": incident.ActionChange, "target": "kv1/b", "outcome": incident.OutcomeManual, "detail": "coffer kv put kv1/b k=v"},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err = call(t, b, logical.ReadOperation, "incident/inc1", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, resp)
	s, ok := r.Rotated(incident.ActionRotateKV, "secret/data/a")
	if len(r.Rotations) != 2 || !ok || s.Outcome != incident.OutcomeOK || s.Attempts != 2 || s.Time.IsZero() {
		t.Errorf("rotations = %+v", r.Rotations)
	}
	if m, ok := r.Rotated(incident.ActionChange, "kv1/b"); !ok || m.Detail != "coffer kv put kv1/b k=v" {
		t.Errorf("manual step = %+v", m)
	}
	if len(r.Revoked) != 1 || r.Status != incident.StatusOpen {
		t.Errorf("recording rotations changed the containment: %+v", r)
	}
}
