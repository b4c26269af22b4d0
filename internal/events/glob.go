package events

import (
	"errors"
	"strings"
)

// MaxPatternLen bounds a filter pattern, so matching costs little whatever
// a subscriber sends.
const MaxPatternLen = 512

// maxStars bounds the wildcards in a pattern (matching is O(len(s) *
// stars) in the worst case).
const maxStars = 16

// Match reports whether s matches the glob pattern, in which "*" matches
// any run of characters, "/" included, and every other character matches
// itself (Vault's event type patterns: "kv*", "kv-v2/data-*", "*").
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}

// CheckPattern returns an error saying what to fix when pattern cannot be
// a filter: empty, too long, too many wildcards or not printable.
func CheckPattern(pattern string) error {
	switch {
	case pattern == "":
		return errors.New("pattern is empty")
	case len(pattern) > MaxPatternLen:
		return errors.New("pattern is longer than 512 bytes")
	case strings.Count(pattern, "*") > maxStars:
		return errors.New("pattern has more than 16 wildcards")
	}
	for _, r := range pattern {
		if r < 0x20 || r == 0x7f {
			return errors.New("pattern has a control character")
		}
	}
	return nil
}

// Filter selects events: by type (a glob, "*" for all) and, when Path is
// set, by data path (a glob; an event with no data path never matches).
type Filter struct {
	Type string
	Path string
}

// Check returns an error saying what to fix when f is not a valid filter.
func (f Filter) Check() error {
	if err := CheckPattern(f.Type); err != nil {
		return errors.New("event type " + err.Error())
	}
	if f.Path != "" {
		if err := CheckPattern(f.Path); err != nil {
			return errors.New("path filter " + err.Error())
		}
	}
	return nil
}

// Matches reports whether e passes f.
func (f Filter) Matches(e *Event) bool {
	if !Match(f.Type, e.Type) {
		return false
	}
	if f.Path == "" {
		return true
	}
	p := e.DataPath()
	return p != "" && Match(f.Path, p)
}
