package framework

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// FuzzDuration checks that any input either fails or yields a non-negative
// duration that survives a marshal/unmarshal round trip exactly.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{`10`, `"10"`, `"30s"`, `"5m"`, `"768h"`, `"1h30m"`, `"7d"`, `""`, `-1`, `"-1s"`, `1.5`, `"1.5s"`, `null`, `"9223372036s"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Duration
		if err := json.Unmarshal(in, &d); err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("Unmarshal(%q) = %v, want non-negative", in, time.Duration(d))
		}
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("Marshal(%v) error = %v", time.Duration(d), err)
		}
		var back Duration
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("Unmarshal(Marshal(%v)) = %s: %v", time.Duration(d), out, err)
		}
		if back != d {
			t.Fatalf("round trip %v -> %s -> %v", time.Duration(d), out, time.Duration(back))
		}
	})
}

type fuzzInput struct {
	MaxVersions Int               `json:"max_versions"`
	CASRequired Bool              `json:"cas_required"`
	After       Duration          `json:"delete_version_after"`
	Policies    CommaStrings      `json:"policies"`
	Custom      map[string]string `json:"custom_metadata"`
	Options     struct {
		CAS *int `json:"cas"`
	} `json:"options"`
	Data json.RawMessage `json:"data"`
	OCSP Unsupported     `json:"ocsp_enabled"`
}

// FuzzDecodeBody checks that decoding never panics, fails only with an
// ErrInvalidRequest, reports ignored members sorted and never a known
// top-level one, and that what it accepts re-encodes to a body it accepts
// again, ignoring nothing, with the same result.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"max_versions":"5","cas_required":"true"}`,
		`{"delete_version_after":"1h","policies":"a,b"}`, `{"options":{"cas":0},"data":{"a":1}}`,
		`{"custom_metadata":{"k":"v"}}`, `{"unknown":1}`, `{"options":{"x":1}}`, `{} x`, `{"data":`,
		`{"Max_Versions":1}`, `{"ocsp_enabled":false}`, `{"ocsp_enabled":[1]}`, `{"a":1,"a":2}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in fuzzInput
		ignored, err := DecodeBodyIgnored(body, &in)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("DecodeBody(%q) error = %v, want ErrInvalidRequest", body, err)
			}
			return
		}
		if !slices.IsSorted(ignored) {
			t.Fatalf("DecodeBody(%q) ignored %q, not sorted", body, ignored)
		}
		for _, name := range ignored {
			switch name {
			case "max_versions", "cas_required", "delete_version_after", "policies", "custom_metadata", "options", "data", "ocsp_enabled":
				t.Fatalf("DecodeBody(%q) ignored the known member %q", body, name)
			}
		}
		out, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("Marshal(%+v) error = %v", in, err)
		}
		var again fuzzInput
		if ign, err := DecodeBodyIgnored(out, &again); err != nil || len(ign) > 0 {
			t.Fatalf("DecodeBody(Marshal(DecodeBody(%q))) = %s: ignored %q, %v", body, out, ign, err)
		}
		out2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("round trip differs: %s vs %s", out, out2)
		}
	})
}
