package leaks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func b64(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.StdEncoding.EncodeToString(s[:])
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	many := make([]string, MaxCandidates+1)
	for i := range many {
		many[i] = b64(fmt.Sprint("x", i))
	}
	body := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		body    string
		n       int
		ignored []string
		wantErr string
	}{
		{"one", body(map[string]any{"candidates": []string{b64("a")}}), 1, nil, ""},
		{"max", body(map[string]any{"candidates": many[:MaxCandidates]}), MaxCandidates, nil, ""},
		{"unknown members", body(map[string]any{"candidates": []string{b64("a")}, "zeta": 1, "alpha": "x"}), 1, []string{"alpha", "zeta"}, ""},
		{"empty body", "", 0, nil, "missing candidates"},
		{"null", "null", 0, nil, "missing candidates"},
		{"not an object", "[1]", 0, nil, "JSON object"},
		{"bad JSON", "{", 0, nil, "JSON object"},
		{"no candidates", `{"other": 1}`, 0, nil, "missing candidates"},
		{"null candidates", `{"candidates": null}`, 0, nil, "missing candidates"},
		{"empty list", `{"candidates": []}`, 0, nil, "empty"},
		{"too many", body(map[string]any{"candidates": many}), 0, nil, "too many candidates: 1001"},
		{"a string", `{"candidates": "abc"}`, 0, nil, "array of strings"},
		{"a number", `{"candidates": [1]}`, 0, nil, "candidates[0] is not a string"},
		{"raw text", `{"candidates": ["hunter2-secret"]}`, 0, nil, "candidates[0] is not the base64"},
		{"short hash", body(map[string]any{"candidates": []string{base64.StdEncoding.EncodeToString(make([]byte, 31))}}), 0, nil, "not the base64"},
		{"long hash", body(map[string]any{"candidates": []string{base64.StdEncoding.EncodeToString(make([]byte, 33))}}), 0, nil, "not the base64"},
		{"URL alphabet", body(map[string]any{"candidates": []string{b64("a"), strings.Repeat("_", 43) + "="}}), 0, nil, "candidates[1]"},
		{"repeated", body(map[string]any{"candidates": []string{b64("a"), b64("b"), b64("a")}}), 0, nil, "candidates[2] repeats candidates[0]"},
		{"unpadded", body(map[string]any{"candidates": []string{strings.TrimSuffix(b64("a"), "=") + "A"}}), 0, nil, "candidates[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, ignored, err := ParseRequest([]byte(tt.body))
			if tt.wantErr != "" {
				if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRequest(%.60q) error = %v, want invalid request with %q", tt.body, err, tt.wantErr)
				}
				if hs != nil {
					t.Errorf("ParseRequest(%.60q) returned hashes with an error", tt.body)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRequest(%.60q) = %v", tt.body, err)
			}
			if len(hs) != tt.n {
				t.Errorf("ParseRequest(%.60q) = %d hashes, want %d", tt.body, len(hs), tt.n)
			}
			if d := cmp.Diff(tt.ignored, ignored); d != "" {
				t.Errorf("ignored (-want +got):\n%s", d)
			}
		})
	}
	hs, _, err := ParseRequest([]byte(body(map[string]any{"candidates": []string{b64("a")}})))
	if err != nil || hs[0] != sha256.Sum256([]byte("a")) {
		t.Errorf("ParseRequest did not decode the hash: %x, %v", hs, err)
	}
}

// FuzzParseRequest checks that no body makes ParseRequest panic, that a
// refusal is an invalid request quoting no candidate, and that what it
// accepts re-encodes to the candidates it was given.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"candidates": ["` + b64("a") + `"]}`,
		`{"candidates": ["` + b64("a") + `", "` + b64("b") + `"], "x": 1}`,
		`{"candidates": []}`, `{"candidates": "x"}`, `[]`, `null`, ``, `{"candidates": [null]}`,
		`{"candidates": ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hs, _, err := ParseRequest(body)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("error %v is not an invalid request", err)
			}
			if hs != nil {
				t.Fatal("hashes returned with an error")
			}
			return
		}
		var members map[string]json.RawMessage
		var candidates []string
		if err := json.Unmarshal(body, &members); err != nil {
			t.Fatalf("accepted a body encoding/json refuses: %v", err)
		}
		if err := json.Unmarshal(members["candidates"], &candidates); err != nil {
			t.Fatalf("accepted candidates encoding/json refuses: %v", err)
		}
		if len(candidates) != len(hs) || len(hs) == 0 || len(hs) > MaxCandidates {
			t.Fatalf("%d hashes from %d candidates", len(hs), len(candidates))
		}
		for i, h := range hs {
			if got := base64.StdEncoding.EncodeToString(h[:]); got != candidates[i] {
				t.Fatalf("candidate %d: %q decoded to %q", i, candidates[i], got)
			}
		}
	})
}
