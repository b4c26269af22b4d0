package core

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// taskObserver records the background failures it is told about.
type taskObserver struct{ failed []string }

func (o *taskObserver) Login(string, bool)            {}
func (o *taskObserver) RevokeFailure(string)          {}
func (o *taskObserver) AuditFailure(string)           {}
func (o *taskObserver) BackgroundFailure(task string) { o.failed = append(o.failed, task) }

func TestRunTaskSurfacesFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		sealed   bool  // the context has ended when the task returns
		err      error // what the task returns
		wantLog  string
		reported bool
	}{
		{name: "stops at seal", sealed: true, err: nil},
		{name: "stops at seal with the context's error", sealed: true, err: context.Canceled},
		{name: "fails while unsealed", err: errors.New("storage unreachable"), wantLog: "storage unreachable", reported: true},
		{name: "returns while unsealed", err: nil, wantLog: "it returned while the server was unsealed", reported: true},
		{name: "fails as the core seals", sealed: true, err: errors.New("write failed"), wantLog: "write failed", reported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.sealed {
				cancel()
			}
			var buf bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&buf, nil))
			obs := &taskObserver{}
			runTask(ctx, logger, obs, task{name: "lease sweep", run: func(context.Context) error { return tt.err }})
			logged := buf.String()
			if tt.wantLog == "" && logged != "" {
				t.Errorf("logged %q, want nothing", logged)
			}
			if tt.wantLog != "" && (!strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, `task="lease sweep"`) || !strings.Contains(logged, tt.wantLog)) {
				t.Errorf("logged %q, want an error naming the task and saying %q", logged, tt.wantLog)
			}
			if got := slices.Equal(obs.failed, []string{"lease sweep"}); got != tt.reported || (!tt.reported && len(obs.failed) > 0) {
				t.Errorf("observer told %q, want reported %v", obs.failed, tt.reported)
			}
		})
	}
}

func TestRunTaskWithoutObserver(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	runTask(t.Context(), slog.New(slog.NewTextHandler(&buf, nil)), nil, task{name: "token sweep", run: func(context.Context) error { return errors.New("boom") }})
	if !strings.Contains(buf.String(), "boom") {
		t.Errorf("logged %q, want the task's error", buf.String())
	}
}
