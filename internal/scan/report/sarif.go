package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// SARIF 2.1.0 shapes: only the properties Coffer writes.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Version        string      `json:"version,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string       `json:"id"`
	ShortDescription sarifMessage `json:"shortDescription"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// WriteSARIF writes the findings as a SARIF 2.1.0 log with one run of the
// tool "coffer scan" (version is the coffer release, may be empty). Each
// result has its rule, a message, the file and line, and a partial
// fingerprint ("coffer/v1": a hash of [Finding.Fingerprint]); history
// findings carry their commit in the result's properties, live secrets
// their Coffer path and version.
func WriteSARIF(w io.Writer, fs []Finding, version string) error {
	rules := map[string]string{}
	results := make([]sarifResult, 0, len(fs))
	for _, f := range fs {
		desc := f.Description
		if f.Live != nil {
			desc = liveRuleText(f.RuleID)
		}
		rules[f.RuleID] = desc
		r := sarifResult{
			RuleID:              f.RuleID,
			Level:               "error",
			Message:             sarifMessage{Text: fmt.Sprintf("%s (%s, value starts %q)", f.Detail(), f.Detector, f.Redacted)},
			PartialFingerprints: map[string]string{"coffer/v1": fingerprintHash(f)},
			Locations: []sarifLocation{{PhysicalLocation: sarifPhysical{
				ArtifactLocation: sarifArtifact{URI: fileURI(f.File)},
			}}},
			Properties: map[string]any{"detector": f.Detector},
		}
		if f.Line > 0 {
			r.Locations[0].PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
		}
		if f.Commit != "" {
			r.Properties["commit"] = f.Commit
		}
		if l := f.Live; l != nil {
			r.Properties["readable"] = l.Readable
			if l.Readable {
				r.Properties["coffer_path"] = l.Where()
				r.Properties["version"] = l.Version
				r.Properties["current"] = l.Current
			} else {
				r.Level = "warning"
			}
			if l.Readable && !l.Current {
				r.Level = "warning"
			}
		}
		results = append(results, r)
	}
	driver := sarifDriver{Name: "coffer scan", InformationURI: "https://github.com/coffer-secrets/coffer", Version: strings.TrimPrefix(version, "v"), Rules: []sarifRule{}}
	for _, id := range slices.Sorted(maps.Keys(rules)) {
		driver.Rules = append(driver.Rules, sarifRule{ID: id, ShortDescription: sarifMessage{Text: rules[id]}})
	}
	log := sarifLog{
		Schema:  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, Results: results}},
	}
	b, err := json.MarshalIndent(log, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sarif: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// fileURI turns a slash path into a relative URI reference ("-" for stdin
// stays as is).
func fileURI(p string) string {
	u := url.URL{Path: strings.ReplaceAll(p, "\\", "/")}
	return u.String()
}

func liveRuleText(id string) string {
	switch id {
	case RuleLiveCurrent:
		return "The current value of a secret stored in Coffer"
	case RuleLiveOld:
		return "An old version of a secret stored in Coffer (rotated since)"
	default:
		return "A secret stored in Coffer that the scanning token cannot read"
	}
}
