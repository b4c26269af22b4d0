package rotate

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/storage/inmem"
)

// clock is a settable clock; tests move it from their own goroutine only.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// newTestRotator returns a Rotator over an unsealed barrier on in-memory
// storage whose install times come from clk.
func newTestRotator(t *testing.T, clk *clock, active *bool) (*Rotator, *barrier.Barrier) {
	t.Helper()
	b := barrier.NewWithOptions(inmem.New(), barrier.Options{Now: clk.Now, ReserveBatch: 1})
	rootKey, err := barrier.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Initialize(t.Context(), rootKey); err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(t.Context(), rootKey); err != nil {
		t.Fatal(err)
	}
	r := New(Options{Keyring: b, Active: func() bool { return *active }, Clock: clk, MinInterval: time.Hour})
	return r, b
}

func request(t *testing.T, r *Rotator, op logical.Operation, body string) (*logical.Response, error) {
	t.Helper()
	be := &framework.Backend{Paths: r.Paths()}
	return be.HandleRequest(t.Context(), &logical.Request{Operation: op, Path: "rotate/config", Body: json.RawMessage(body)})
}

func TestWriteConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       configOutput
		wantErr    string
	}{
		{"defaults kept", `{}`, configOutput{Enabled: true, MaxOperations: int64(barrier.DefaultRotateAfter)}, ""},
		{"disable", `{"enabled": false}`, configOutput{MaxOperations: int64(barrier.DefaultRotateAfter)}, ""},
		{"interval string", `{"interval": "2h", "max_operations": 1000000}`, configOutput{Enabled: true, MaxOperations: 1_000_000, Interval: 7200}, ""},
		{"interval zero", `{"interval": 0}`, configOutput{Enabled: true, MaxOperations: int64(barrier.DefaultRotateAfter)}, ""},
		{"too few operations", `{"max_operations": 999999}`, configOutput{}, "max_operations must be between"},
		{"too many operations", `{"max_operations": 9999999999999}`, configOutput{}, "max_operations must be between"},
		{"interval below the minimum", `{"interval": "30m"}`, configOutput{}, "at least 1h0m0s"},
		{"negative interval", `{"interval": -7200}`, configOutput{}, "non-negative duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			active := true
			r, _ := newTestRotator(t, &clock{t: time.Unix(1e9, 0)}, &active)
			_, err := request(t, r, logical.UpdateOperation, tt.body)
			if tt.wantErr != "" {
				if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("write %s: err = %v, want an invalid request containing %q", tt.body, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("write %s: %v", tt.body, err)
			}
			resp, err := request(t, r, logical.ReadOperation, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.Data.(configOutput); got != tt.want {
				t.Fatalf("after writing %s: read %+v, want %+v", tt.body, got, tt.want)
			}
		})
	}
}

func TestRotateIfDue(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		cfg     config
		active  bool
		advance time.Duration
		want    uint32 // the active term afterwards
	}{
		{"not due", config{Enabled: true, MaxOperations: 1 << 40, Interval: 2 * time.Hour}, true, time.Hour, 1},
		{"due by age", config{Enabled: true, MaxOperations: 1 << 40, Interval: 2 * time.Hour}, true, 2 * time.Hour, 2},
		{"due by count", config{Enabled: true, MaxOperations: 1}, true, 0, 2},
		{"disabled", config{Enabled: false, MaxOperations: 1, Interval: time.Hour}, true, 2 * time.Hour, 1},
		{"not active", config{Enabled: true, MaxOperations: 1}, false, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: start}
			active := tt.active
			r, b := newTestRotator(t, clk, &active)
			// Written directly: the API refuses counts this low.
			buf, err := json.Marshal(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Put(t.Context(), &storage.Entry{Key: configKey, Value: buf}); err != nil {
				t.Fatal(err)
			}
			clk.t = clk.t.Add(tt.advance)
			if err := r.rotateIfDue(t.Context()); err != nil {
				t.Fatalf("rotateIfDue: %v", err)
			}
			info, err := b.KeyInfo()
			if err != nil {
				t.Fatal(err)
			}
			if info.Term != tt.want {
				t.Fatalf("term = %d, want %d", info.Term, tt.want)
			}
		})
	}
}

func TestRotateIfDueSealed(t *testing.T) {
	t.Parallel()
	active := true
	r, b := newTestRotator(t, &clock{t: time.Unix(1e9, 0)}, &active)
	b.Seal()
	if err := r.rotateIfDue(t.Context()); err != nil {
		t.Fatalf("rotateIfDue on a sealed barrier = %v, want nil", err)
	}
}
