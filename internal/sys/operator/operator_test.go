package operator

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func serve(t *testing.T, o *Operator, op logical.Operation, path string) *logical.Response {
	t.Helper()
	resp, err := (&framework.Backend{Paths: o.Paths()}).HandleRequest(t.Context(), &logical.Request{Operation: op, Path: path})
	if err != nil {
		t.Fatalf("%s %s: %v", op, path, err)
	}
	return resp
}

func TestVersionHistory(t *testing.T) {
	t.Parallel()
	st := inmem.New()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)}
	runs := []struct {
		version string
		advance time.Duration
	}{
		{"1.0.0", 0},
		{"1.1.0", time.Hour},
		{"1.0.0", time.Hour}, // a downgrade keeps the first time
		{"", time.Hour},      // nothing recorded
		{"a/b", time.Hour},   // not a storage key segment
	}
	for _, r := range runs {
		clk.t = clk.t.Add(r.advance)
		o := New(Options{Storage: st, Clock: clk, Version: r.version})
		if err := o.RecordVersion(t.Context()); err != nil {
			t.Fatalf("RecordVersion(%q): %v", r.version, err)
		}
	}
	o := New(Options{Storage: st, Clock: clk})
	resp := serve(t, o, logical.ListOperation, "version-history/")
	prev := "1.0.0"
	want := &versionHistory{
		Keys: []string{"1.0.0", "1.1.0"},
		KeyInfo: map[string]versionInfo{
			"1.0.0": {TimestampInstalled: "2026-01-02T03:04:05Z"},
			"1.1.0": {TimestampInstalled: "2026-01-02T04:04:05Z", PreviousVersion: &prev},
		},
	}
	if diff := cmp.Diff(want, resp.Data); diff != "" {
		t.Fatalf("version-history (-want +got):\n%s", diff)
	}
}

func TestSanitizedAndInFlight(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name          string
		opts          Options
		wantSanitized any
		wantInFlight  string
	}{
		{"unset", Options{}, struct{}{}, `{}`},
		{"set", Options{
			SanitizedConfig: map[string]any{"ui": true},
			InFlight: func() map[string]InFlightRequest {
				return map[string]InFlightRequest{"r1": {StartTime: started, RequestPath: "/v1/sys/health", RequestMethod: "GET"}}
			},
		}, map[string]any{"ui": true}, `{"r1":{"start_time":"2026-01-02T03:04:05Z","client_remote_address":"","request_path":"/v1/sys/health","request_method":"GET","client_id":""}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Storage = inmem.New()
			o := New(tt.opts)
			if diff := cmp.Diff(tt.wantSanitized, serve(t, o, logical.ReadOperation, "config/state/sanitized").Data); diff != "" {
				t.Fatalf("sanitized (-want +got):\n%s", diff)
			}
			raw := serve(t, o, logical.ReadOperation, "in-flight-req").Raw
			if raw == nil || raw.ContentType != "application/json" || !json.Valid(raw.Body) || string(raw.Body) != tt.wantInFlight {
				t.Fatalf("in-flight-req = %+v, want raw JSON %s", raw, tt.wantInFlight)
			}
		})
	}
}
