// Package format finds credentials of well-known formats (cloud keys,
// private keys, service tokens, JWTs, connection strings with passwords)
// with the rule set of github.com/zricethezav/gitleaks/v8, used as a
// library: its default configuration and its detector.
//
// The gitleaks configuration is read into a private viper instance (never
// the global one), so building [Rules] touches no package-level state of
// ours. gitleaks logs through its own global zerolog logger at info level;
// the detector calls used here log only at debug and trace level, which that
// logger drops, so nothing it finds reaches a log.
//
// [Rules] is safe for concurrent use; a [Detector] is not: make one per
// goroutine with [Rules.Detector].
package format

import (
	"fmt"
	"strings"

	"github.com/spf13/viper"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
)

// Rules is the compiled gitleaks default rule set.
type Rules struct {
	cfg config.Config
}

// DefaultRules compiles gitleaks' default rule set.
func DefaultRules() (*Rules, error) {
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(strings.NewReader(config.DefaultConfig)); err != nil {
		return nil, fmt.Errorf("read gitleaks default rules: %w", err)
	}
	var vc config.ViperConfig
	if err := v.Unmarshal(&vc); err != nil {
		return nil, fmt.Errorf("decode gitleaks default rules: %w", err)
	}
	cfg, err := vc.Translate()
	if err != nil {
		return nil, fmt.Errorf("compile gitleaks default rules: %w", err)
	}
	return &Rules{cfg: cfg}, nil
}

// Len returns the number of rules.
func (r *Rules) Len() int { return len(r.cfg.Rules) }

// Detector returns a detector over the rules for one goroutine.
func (r *Rules) Detector() *Detector {
	return &Detector{d: detect.NewDetector(r.cfg)}
}

// Detector runs the rules over text. It is not safe for concurrent use.
type Detector struct {
	d *detect.Detector
}

// Match is one credential found. Secret is the matched value: callers must
// never print or log it (redact it first).
type Match struct {
	RuleID      string
	Description string
	// Line is the 1-based line of the match's start in the text.
	Line   int
	Secret string
}

// Find returns the credentials in text. path is the file's path (rules and
// allow-lists of gitleaks look at it: lock files are skipped, some files
// are findings by name alone); it may be empty.
func (d *Detector) Find(path, text string) []Match {
	//lint:ignore SA1019 Detect takes this type; v8 has no other way to pass a fragment with its path.
	fs := d.d.Detect(detect.Fragment{Raw: text, FilePath: path})
	out := make([]Match, 0, len(fs))
	for _, f := range fs {
		out = append(out, Match{RuleID: f.RuleID, Description: f.Description, Line: f.StartLine + 1, Secret: f.Secret})
	}
	return out
}
