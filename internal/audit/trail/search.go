package trail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// Status selects entries by outcome.
type Status int

// The statuses a [Filter] can ask for.
const (
	// AnyStatus selects every entry.
	AnyStatus Status = iota
	// Succeeded selects entries without an error.
	Succeeded
	// Failed selects entries with an error.
	Failed
)

// Filter selects audit entries; every set field must match. Checkpoint
// lines are never selected.
type Filter struct {
	// PathPrefix selects requests whose path starts with it.
	PathPrefix string
	// Operations selects requests with one of these operations.
	Operations []string
	// Types selects entry types ("request", "response", "forward"); empty
	// for all three.
	Types []string
	// Accessor selects entries made with this token accessor, given
	// HMACed ("hmac-sha256:...") or raw. A raw accessor matches logs
	// written with hmac_accessor=false, and HMACed logs when HashAccessor
	// is set.
	Accessor string
	// HashAccessor HMACs a raw accessor with the device's key (the CLI asks
	// sys/audit-hash); nil when unavailable.
	HashAccessor func(string) string
	// EntityID selects entries of this identity entity.
	EntityID string
	// Since and Until select entries with Since <= time < Until; zero
	// values leave that side open.
	Since time.Time
	Until time.Time
	// Status selects by outcome.
	Status Status
	// Values selects entries holding any of these values anywhere as a
	// JSON string: HMACs from sys/audit-hash, or raw values in a log_raw
	// log.
	Values []string
}

// Match is a selected entry: its line number (from 1), its exact bytes
// (without newline, the caller's to keep) and the decoded line.
type Match struct {
	Line  int
	Raw   []byte
	Entry audit.Line
}

// Search returns the entries of r that f selects, in file order. A line
// that is not a valid audit line yields an error naming it and the search
// goes on; a read failure yields an error and ends it.
func Search(r io.Reader, f Filter) iter.Seq2[Match, error] {
	return SearchContext(context.Background(), r, f)
}

// SearchContext is [Search] that ends, yielding ctx's error, once ctx is
// done (checked every few hundred lines, matching or not).
func SearchContext(ctx context.Context, r io.Reader, f Filter) iter.Seq2[Match, error] {
	return func(yield func(Match, error) bool) {
		m := newMatcher(f)
		lr := newLineReader(r)
		for {
			if lr.n%ctxCheckLines == 0 {
				if err := ctx.Err(); err != nil {
					yield(Match{}, err)
					return
				}
			}
			raw, _, err := lr.next()
			if errors.Is(err, io.EOF) {
				return
			}
			if errors.Is(err, errLineTooLong) {
				if !yield(Match{Line: lr.n}, fmt.Errorf("audit log line %d: %w", lr.n, err)) {
					return
				}
				continue
			}
			if err != nil {
				yield(Match{}, err)
				return
			}
			var l audit.Line
			if err := json.Unmarshal(raw, &l); err != nil {
				if !yield(Match{Line: lr.n}, fmt.Errorf("audit log line %d is not a JSON audit line", lr.n)) {
					return
				}
				continue
			}
			if !m.match(raw, &l) {
				continue
			}
			if !yield(Match{Line: lr.n, Raw: raw, Entry: l}, nil) {
				return
			}
		}
	}
}

// matcher is a Filter prepared for matching.
type matcher struct {
	f         Filter
	accessors []string
	values    [][]byte // each value JSON-encoded, quotes included
}

func newMatcher(f Filter) *matcher {
	m := &matcher{f: f}
	if f.Accessor != "" {
		m.accessors = []string{f.Accessor}
		if !strings.HasPrefix(f.Accessor, audit.HMACPrefix) && f.HashAccessor != nil {
			if h := f.HashAccessor(f.Accessor); h != "" {
				m.accessors = append(m.accessors, h)
			}
		}
	}
	for _, v := range f.Values {
		q, _ := json.Marshal(v)
		m.values = append(m.values, q)
	}
	return m
}

func (m *matcher) match(raw []byte, l *audit.Line) bool {
	f := &m.f
	if l.Type != audit.TypeRequest && l.Type != audit.TypeResponse && l.Type != audit.TypeForward {
		return false
	}
	if len(f.Types) > 0 && !slices.Contains(f.Types, l.Type) {
		return false
	}
	var req audit.LineRequest
	if l.Request != nil {
		req = *l.Request
	}
	var auth audit.LineAuth
	if l.Auth != nil {
		auth = *l.Auth
	}
	if f.PathPrefix != "" && !strings.HasPrefix(req.Path, f.PathPrefix) {
		return false
	}
	if len(f.Operations) > 0 && !slices.Contains(f.Operations, req.Operation) {
		return false
	}
	if len(m.accessors) > 0 && !slices.Contains(m.accessors, auth.Accessor) && !slices.Contains(m.accessors, req.ClientTokenAccessor) {
		return false
	}
	if f.EntityID != "" && auth.EntityID != f.EntityID {
		return false
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		t, err := time.Parse(time.RFC3339Nano, l.Time)
		if err != nil || (!f.Since.IsZero() && t.Before(f.Since)) || (!f.Until.IsZero() && !t.Before(f.Until)) {
			return false
		}
	}
	switch f.Status {
	case Succeeded:
		if l.Error != "" {
			return false
		}
	case Failed:
		if l.Error == "" {
			return false
		}
	}
	if len(m.values) > 0 && !slices.ContainsFunc(m.values, func(q []byte) bool { return bytes.Contains(raw, q) }) {
		return false
	}
	return true
}
