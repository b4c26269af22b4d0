package trail_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
)

// TestVerifyBoundsProblems: a file of garbage lines lists at most
// MaxProblems problems and counts them all.
func TestVerifyBoundsProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bad  int
	}{
		{"below the bound", 10},
		{"at the bound", trail.MaxProblems},
		{"far above the bound", 5 * trail.MaxProblems},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := trail.Verify(bytes.NewReader(bytes.Repeat([]byte("x\n"), tc.bad)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.ProblemCount != tc.bad || len(rep.Problems) != min(tc.bad, trail.MaxProblems) || !rep.Tampering {
				t.Errorf("%d bad lines: ProblemCount %d, %d listed, tampering %v; want %d, %d, true", tc.bad, rep.ProblemCount, len(rep.Problems), rep.Tampering, tc.bad, min(tc.bad, trail.MaxProblems))
			}
			if rep.Problem == nil || rep.Problem.Line != 1 {
				t.Errorf("Report.Problem = %v, want line 1", rep.Problem)
			}
		})
	}
}

// TestCancelled: a done context ends Verify and Search with its error.
func TestCancelled(t *testing.T) {
	t.Parallel()
	lines, pub, _ := writeLog(t, 3000, audit.TypeRequest)
	data := join(lines)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := trail.VerifyWith(bytes.NewReader(data), trail.Options{PublicKey: pub, Context: ctx}); !errors.Is(err, context.Canceled) {
		t.Errorf("VerifyWith(cancelled) error = %v, want context.Canceled", err)
	}
	n := 0
	var last error
	for _, err := range trail.SearchContext(ctx, bytes.NewReader(data), trail.Filter{PathPrefix: "nothing/"}) {
		n++
		last = err
	}
	if n != 1 || !errors.Is(last, context.Canceled) {
		t.Errorf("SearchContext(cancelled) yielded %d, last error %v; want context.Canceled alone", n, last)
	}
	if _, err := trail.VerifyWith(bytes.NewReader(data), trail.Options{PublicKey: pub, Context: t.Context()}); err != nil {
		t.Errorf("VerifyWith(live context) error = %v", err)
	}
}
