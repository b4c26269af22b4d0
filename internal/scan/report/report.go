// Package report holds the findings of a scan and writes them: an aligned
// table for a terminal, JSON, and SARIF 2.1.0 for code-scanning tools. It
// also reads a baseline (a JSON report of accepted findings) and filters
// the findings it lists.
//
// A finding never holds a secret: only a redacted prefix of at most four
// characters ([Redact]) and a fingerprint made of where the finding is
// (rule, file, commit, line) and that redacted prefix, never of the whole
// value.
//
// The package imports only the standard library and keeps no state.
package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Detector names.
const (
	// DetectorLive marks a value that is a live secret stored in Coffer.
	DetectorLive = "live-secret"
	// DetectorFormat marks a credential of a well-known format.
	DetectorFormat = "format"
)

// Rule IDs of the live-secret detector.
const (
	RuleLiveCurrent    = "coffer-live-secret"
	RuleLiveOld        = "coffer-live-secret-old-version"
	RuleLiveUnreadable = "coffer-live-secret-unreadable"
)

// Finding is one secret found. The JSON field names are the -format=json
// output and the baseline format.
type Finding struct {
	Detector    string `json:"detector"`
	RuleID      string `json:"rule_id"`
	Description string `json:"description"`
	File        string `json:"file"`
	Line        int    `json:"line"`
	// Commit is the commit where the value was first seen, for a finding in
	// a repository's history; empty for files and the index.
	Commit string `json:"commit,omitempty"`
	// Redacted is at most the first four characters of the value and "…".
	Redacted string `json:"redacted"`
	// Live is set for the live-secret detector.
	Live *Live `json:"live,omitempty"`
	// Fingerprint identifies the finding in baselines and SARIF; see
	// [Finding.ComputeFingerprint].
	Fingerprint string `json:"fingerprint"`
}

// Live is what the server said about a live secret.
type Live struct {
	// Readable is false for a live secret the scanning token cannot read;
	// the other fields are then empty.
	Readable bool   `json:"readable"`
	Kind     string `json:"kind,omitempty"`
	Mount    string `json:"mount,omitempty"`
	Path     string `json:"path,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  int    `json:"version,omitempty"`
	Current  bool   `json:"current,omitempty"`
}

// Where returns the Coffer location of a live secret as "secret/app/db#password".
func (l *Live) Where() string {
	if l == nil || !l.Readable {
		return ""
	}
	return strings.TrimSuffix(l.Mount, "/") + "/" + strings.TrimPrefix(l.Path, "/") + "#" + l.Key
}

// Detail is the one-line explanation of a finding.
func (f *Finding) Detail() string {
	if f.Live == nil {
		return f.Description
	}
	l := f.Live
	switch {
	case !l.Readable:
		return "a live secret you cannot read"
	case l.Current && l.Version == 0:
		// KV v1 and database static roles have no versions.
		return fmt.Sprintf("live secret %s (current)", l.Where())
	case l.Current:
		return fmt.Sprintf("live secret %s, version %d (current)", l.Where(), l.Version)
	default:
		return fmt.Sprintf("live secret %s, old version %d (rotated since)", l.Where(), l.Version)
	}
}

// ComputeFingerprint sets Fingerprint from the rule, the file, the commit,
// the line, the redacted prefix and, for a readable live secret, where it
// lives in Coffer. The prefix tells apart two different secrets at the
// same place (a baseline must not hide a new secret written over an
// accepted one), unless they share their first characters. The rest of the
// value is never part of it: a fingerprint in a committed baseline file
// must not help anyone guess a secret.
func (f *Finding) ComputeFingerprint() {
	f.Fingerprint = f.fingerprint()
}

// fingerprint is the fingerprint [Finding.ComputeFingerprint] sets.
func (f *Finding) fingerprint() string {
	parts := []string{f.RuleID, f.File, strconv.Itoa(f.Line)}
	if f.Commit != "" {
		parts = append([]string{f.Commit}, parts...)
	}
	if w := f.Live.Where(); w != "" {
		parts = append(parts, w)
	}
	parts = append(parts, f.Redacted)
	return strings.Join(parts, ":")
}

// Redact returns at most the first four characters of s (fewer for short
// values: a quarter of its length) followed by "…".
func Redact(s string) string {
	n := min(4, utf8.RuneCountInString(s)/4)
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// Sort orders findings by file, line, commit and rule.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Commit, b.Commit),
			cmp.Compare(a.RuleID, b.RuleID),
			cmp.Compare(a.Fingerprint, b.Fingerprint),
		)
	})
}

// Report is the JSON document -format=json writes and -baseline reads.
type Report struct {
	Findings []Finding `json:"findings"`
}

// WriteJSON writes the findings as an indented JSON [Report].
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	b, err := json.MarshalIndent(Report{Findings: fs}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// WriteTable writes the findings as aligned columns, or a line saying there
// are none.
func WriteTable(w io.Writer, fs []Finding) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "No secrets found.")
		return err
	}
	rows := [][]string{{"File", "Line", "Commit", "Detector", "Rule", "Secret", "Detail"}}
	for _, f := range fs {
		c := f.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if c == "" {
			c = "-"
		}
		rows = append(rows, []string{f.File, strconv.Itoa(f.Line), c, f.Detector, f.RuleID, f.Redacted, f.Detail()})
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(c)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "\n%d finding(s).\n", len(fs))
	_, err := io.WriteString(w, b.String())
	return err
}

// Baseline is a set of accepted findings, by fingerprint.
type Baseline map[string]struct{}

// ReadBaseline reads a JSON report (as -format=json writes it) from path.
// A finding's fingerprint is computed afresh from its fields, so baselines
// written by earlier versions (whose fingerprints did not hold the redacted
// prefix) keep working; a finding with no rule or file keeps the
// fingerprint it was written with.
func ReadBaseline(path string) (Baseline, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read baseline: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse baseline %s: %w", path, err)
	}
	out := Baseline{}
	for _, f := range r.Findings {
		if f.Fingerprint == "" || f.RuleID != "" && f.File != "" {
			f.ComputeFingerprint()
		}
		out[f.Fingerprint] = struct{}{}
	}
	return out, nil
}

// Filter returns the findings not in the baseline, and how many it removed.
func (b Baseline) Filter(fs []Finding) ([]Finding, int) {
	if len(b) == 0 {
		return fs, 0
	}
	out := fs[:0:0]
	for _, f := range fs {
		if _, ok := b[f.Fingerprint]; !ok {
			out = append(out, f)
		}
	}
	return out, len(fs) - len(out)
}

// fingerprintHash is the SARIF partial fingerprint of a finding.
func fingerprintHash(f Finding) string {
	s := sha256.Sum256([]byte(f.Fingerprint))
	return hex.EncodeToString(s[:16])
}
