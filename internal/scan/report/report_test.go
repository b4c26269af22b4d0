package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sample holds one finding of each kind.
func sample() []Finding {
	fs := []Finding{
		{Detector: DetectorFormat, RuleID: "aws-access-token", Description: "AWS key", File: "cfg/app.go", Line: 3, Redacted: Redact("AKIAZ7VRSQ5TQPKXB3QN")},
		{Detector: DetectorLive, RuleID: RuleLiveCurrent, File: "dir with space/.env", Line: 1, Commit: "0123456789abcdef0123456789abcdef01234567", Redacted: "s3cr…",
			Live: &Live{Readable: true, Kind: "kv", Mount: "secret/", Path: "team/db", Key: "password", Version: 2, Current: true}},
		{Detector: DetectorLive, RuleID: RuleLiveOld, File: "a.env", Line: 2, Redacted: "old1…",
			Live: &Live{Readable: true, Kind: "kv", Mount: "secret/", Path: "team/db", Key: "password", Version: 1}},
		{Detector: DetectorLive, RuleID: RuleLiveUnreadable, File: "-", Line: 7, Redacted: "zzzz…", Live: &Live{}},
	}
	for i := range fs {
		fs[i].ComputeFingerprint()
	}
	return fs
}

// validateSARIF checks b against the SARIF 2.1.0 schema from the OASIS
// sarif-spec repository (testdata/sarif-schema-2.1.0.json).
func validateSARIF(t *testing.T, b []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("SARIF output does not validate: %v\n%s", err, b)
	}
}

func TestWriteSARIF(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		fs   []Finding
	}{{"findings", sample()}, {"none", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := WriteSARIF(&b, tt.fs, "v0.1.0"); err != nil {
				t.Fatal(err)
			}
			validateSARIF(t, b.Bytes())
			var log struct {
				Runs []struct {
					Results []struct {
						RuleID              string            `json:"ruleId"`
						PartialFingerprints map[string]string `json:"partialFingerprints"`
						Properties          map[string]any    `json:"properties"`
					} `json:"results"`
				} `json:"runs"`
			}
			if err := json.Unmarshal(b.Bytes(), &log); err != nil {
				t.Fatal(err)
			}
			if got := len(log.Runs[0].Results); got != len(tt.fs) {
				t.Fatalf("%d results, want %d", got, len(tt.fs))
			}
			for i, r := range log.Runs[0].Results {
				if r.RuleID != tt.fs[i].RuleID || r.PartialFingerprints["coffer/v1"] == "" {
					t.Errorf("result %d: rule %q fingerprints %v", i, r.RuleID, r.PartialFingerprints)
				}
				if tt.fs[i].Commit != "" && r.Properties["commit"] != tt.fs[i].Commit {
					t.Errorf("result %d: commit property %v, want %s", i, r.Properties["commit"], tt.fs[i].Commit)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"AKIAZ7VRSQ5TQPKXB3QN", "AKIA…"},
		{"12345678", "12…"},
		{"abc", "…"},
		{"ééééééééééééééééé", "éééé…"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTableAndJSONHoldNoSecret(t *testing.T) {
	t.Parallel()
	fs := sample()
	var tb, jb bytes.Buffer
	if err := WriteTable(&tb, fs); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(&jb, fs); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{tb.String(), jb.String()} {
		if strings.Contains(out, "AKIAZ7VRSQ5TQPKXB3QN") {
			t.Errorf("output holds the secret:\n%s", out)
		}
	}
	for _, want := range []string{"live secret secret/team/db#password, version 2 (current)", "old version 1 (rotated since)", "a live secret you cannot read", "0123456789ab"} {
		if !strings.Contains(tb.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tb.String())
		}
	}
}

func TestBaseline(t *testing.T) {
	t.Parallel()
	fs := sample()
	var b bytes.Buffer
	if err := WriteJSON(&b, fs[:2]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	base, err := ReadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	got, n := base.Filter(fs)
	if n != 2 || len(got) != 2 || got[0].RuleID != RuleLiveOld || got[1].RuleID != RuleLiveUnreadable {
		t.Errorf("Filter = %d kept (%v), %d removed; want the last two kept", len(got), got, n)
	}
	if _, err := ReadBaseline(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("ReadBaseline of a missing file: no error")
	}
}

// TestBaselineValue: a baseline hides the accepted secret only, not a
// different one found later at the same file and line; and a baseline
// written before fingerprints held the redacted prefix still works.
func TestBaselineValue(t *testing.T) {
	t.Parallel()
	accepted := Finding{Detector: DetectorFormat, RuleID: "generic-api-key", File: "app.env", Line: 4, Redacted: "abcd…"}
	accepted.ComputeFingerprint()
	replaced := accepted
	replaced.Redacted = "wxyz…"
	replaced.ComputeFingerprint()
	old := accepted
	old.Fingerprint = "generic-api-key:app.env:4" // the earlier form
	tests := []struct {
		name string
		base Finding
	}{
		{"current", accepted},
		{"earlier fingerprint", old},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := WriteJSON(&b, []Finding{tt.base}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "baseline.json")
			if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			base, err := ReadBaseline(path)
			if err != nil {
				t.Fatal(err)
			}
			got, n := base.Filter([]Finding{accepted, replaced})
			if n != 1 || len(got) != 1 || got[0].Redacted != "wxyz…" {
				t.Errorf("Filter kept %+v (%d removed); want only the different secret kept", got, n)
			}
		})
	}
}
