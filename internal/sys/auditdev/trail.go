package auditdev

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Bounds of the trail endpoints' answers.
const (
	// maxProblems bounds the problems a verify answer lists (it counts
	// them all).
	maxProblems = 100
	// defaultSearchLimit and maxSearchLimit bound the entries a search
	// answers.
	defaultSearchLimit = 100
	maxSearchLimit     = 1000
	// maxSearchBytes bounds the bytes of the entries a search answers; a
	// search that would pass it stops there and says truncated.
	maxSearchBytes = 1 << 20
)

// trailCall reports whether an audit line's request path is a call of
// sys/audit/NAME/search or sys/audit/NAME/verify (in any namespace). A
// search skips them: the device writes each search's answer back into
// the log, so a later search would answer earlier answers again, and the
// log would double with every search.
func trailCall(path string) bool {
	i := strings.Index(path, "sys/audit/")
	if i < 0 || (i > 0 && path[i-1] != '/') {
		return false
	}
	rest := path[i+len("sys/audit/"):]
	j := strings.LastIndexByte(rest, '/')
	if j <= 0 {
		return false
	}
	switch rest[j+1:] {
	case "search", "verify":
		return true
	}
	return false
}

// claim marks device path as running a verify or search, and returns the
// function that ends it; a second one at once is refused (each reads the
// whole log).
func (t *Table) claim(path string) (func(), error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trailBusy == nil {
		t.trailBusy = map[string]bool{}
	}
	if t.trailBusy[path] {
		return nil, &logical.RateLimitError{Msg: fmt.Sprintf("a verify or search of the log of audit device %s is already running: retry when it is done", path), RetryAfter: time.Second}
	}
	t.trailBusy[path] = true
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.trailBusy, path)
	}, nil
}

// filePath returns the log file of the file device at the user-given
// path; a device of another type, or one writing to stdout or discarding,
// has none the server can read.
func (t *Table) filePath(path string) (string, error) {
	p, err := cleanPath(path)
	if err != nil {
		return "", err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.entries, func(e *entry) bool { return e.Path == p })
	if i < 0 {
		return "", logical.InvalidRequest("no audit device at %s", p)
	}
	e := t.entries[i]
	fp := e.Options["file_path"]
	if fp == "" {
		fp = e.Options["path"]
	}
	if e.Type != "file" || fp == "" || fp == "stdout" || fp == "discard" {
		return "", logical.InvalidRequest("audit device %s does not write a file the server can read: verify and search its log where it is kept (coffer audit verify, coffer audit search)", p)
	}
	// This node's own file, the one its device writes.
	return audit.ExpandPath(fp, t.opts.NodeID)
}

// verifyOutput is sys/audit/:path/verify's answer: trail.Report's counts
// and its problems (at most maxProblems, none holding a secret).
type verifyOutput struct {
	OK                bool           `json:"ok"`
	Tampering         bool           `json:"tampering"`
	Lines             int            `json:"lines"`
	Entries           int            `json:"entries"`
	Checkpoints       int            `json:"checkpoints"`
	ChainID           string         `json:"chain_id"`
	FirstSeq          uint64         `json:"first_seq"`
	LastSeq           uint64         `json:"last_seq"`
	HeadSeq           uint64         `json:"head_seq"`
	Anchored          bool           `json:"anchored"`
	SignaturesChecked bool           `json:"signatures_checked"`
	Unchecked         int            `json:"unchecked"`
	ProblemCount      int            `json:"problem_count"`
	Problems          []problemOut   `json:"problems"`
	Recovered         int            `json:"recovered_torn_writes"`
	VerifiedAt        time.Time      `json:"verified_at"`
	Device            map[string]any `json:"device"`
}

type problemOut struct {
	Kind   string `json:"kind"`
	Line   int    `json:"line"`
	Detail string `json:"detail"`
}

// verify checks a file device's log as `coffer audit verify -server`
// does: its hash chain, every checkpoint signature with the device's key,
// and that it reaches the device's live chain head (read first, so the
// file holds at least that much).
func (t *Table) verify(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	d, err := t.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	fp, err := t.filePath(m.Get("path"))
	if err != nil {
		return nil, err
	}
	done, err := t.claim(d.Path())
	if err != nil {
		return nil, err
	}
	defer done()
	head, err := d.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit chain head: %w", err)
	}
	f, err := os.Open(fp)
	if err != nil {
		return nil, fmt.Errorf("open audit log of %s: %w", d.Path(), err)
	}
	defer f.Close()
	rep, err := trail.VerifyWith(f, trail.Options{PublicKey: d.PublicKey(), Head: &head, Context: ctx})
	if err != nil {
		return nil, fmt.Errorf("verify audit log of %s: %w", d.Path(), err)
	}
	out := verifyOutput{
		OK: rep.ProblemCount == 0, Tampering: rep.Tampering, Lines: rep.Lines, Entries: rep.Entries, Checkpoints: rep.Checkpoints,
		ChainID: rep.ChainID, FirstSeq: rep.FirstSeq, LastSeq: rep.LastSeq, HeadSeq: head.Seq,
		Anchored: rep.Anchored, SignaturesChecked: rep.SignaturesChecked, Unchecked: rep.Unchecked,
		ProblemCount: rep.ProblemCount, Problems: []problemOut{}, Recovered: len(rep.Recovered),
		VerifiedAt: time.Now().UTC(), Device: map[string]any{"path": d.Path(), "type": d.Type()},
	}
	for _, p := range rep.Problems {
		if len(out.Problems) < maxProblems {
			out.Problems = append(out.Problems, problemOut{Kind: string(p.Kind), Line: p.Line, Detail: p.Detail})
		}
	}
	return &logical.Response{Data: out}, nil
}

// searchInput is the body of sys/audit/:path/search. Values travel in the
// body, never in a URL: they may be secrets (the audit device HMACs them
// in its own entry of this request).
type searchInput struct {
	Path       string                 `json:"path"`
	Operations framework.CommaStrings `json:"operation"`
	Types      framework.CommaStrings `json:"type"`
	Accessor   string                 `json:"accessor"`
	EntityID   string                 `json:"entity_id"`
	Since      string                 `json:"since"`
	Until      string                 `json:"until"`
	Status     string                 `json:"status"`
	Values     framework.CommaStrings `json:"value"`
	Limit      int                    `json:"limit"`
}

// search selects entries of a file device's log as `coffer audit search`
// does, raw values and accessors HMACed with the device's key; it answers
// at most limit entries, and at most maxSearchBytes of them, as the device
// wrote them (secrets HMACed, unless the device logs raw). It skips the
// entries of verify and search calls (see trailCall).
func (t *Table) search(ctx context.Context, req *logical.Request, m *framework.Match, in *searchInput) (*logical.Response, error) {
	d, err := t.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	fp, err := t.filePath(m.Get("path"))
	if err != nil {
		return nil, err
	}
	f := trail.Filter{PathPrefix: in.Path, Operations: in.Operations, Types: in.Types, Accessor: in.Accessor, HashAccessor: d.HashValue, EntityID: in.EntityID}
	for name, dst := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		v := in.Since
		if name == "until" {
			v = in.Until
		}
		if v == "" {
			continue
		}
		tm, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, logical.InvalidRequest("%s must be an RFC 3339 time such as 2026-12-07T10:00:00Z", name)
		}
		*dst = tm
	}
	switch in.Status {
	case "":
	case "ok":
		f.Status = trail.Succeeded
	case "error":
		f.Status = trail.Failed
	default:
		return nil, logical.InvalidRequest("status must be ok or error")
	}
	for _, v := range in.Values {
		f.Values = append(f.Values, v, d.HashValue(v))
	}
	limit := in.Limit
	switch {
	case limit == 0:
		limit = defaultSearchLimit
	case limit < 0 || limit > maxSearchLimit:
		return nil, logical.InvalidRequest("limit must be between 1 and %d", maxSearchLimit)
	}
	done, err := t.claim(d.Path())
	if err != nil {
		return nil, err
	}
	defer done()
	file, err := os.Open(fp)
	if err != nil {
		return nil, fmt.Errorf("open audit log of %s: %w", d.Path(), err)
	}
	defer file.Close()
	type match struct {
		Line  int             `json:"line"`
		Entry json.RawMessage `json:"entry"`
	}
	out := struct {
		Matches   []match `json:"matches"`
		Truncated bool    `json:"truncated"`
		BadLines  int     `json:"bad_lines"`
	}{Matches: []match{}}
	size := 0
	for mt, err := range trail.SearchContext(ctx, file, f) {
		if err != nil {
			if mt.Line > 0 { // a line that is no audit line: the search goes on
				out.BadLines++
				continue
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("search audit log of %s: %w", d.Path(), err)
		}
		if mt.Entry.Request != nil && trailCall(mt.Entry.Request.Path) {
			continue
		}
		if len(out.Matches) == limit || size+len(mt.Raw) > maxSearchBytes {
			out.Truncated = true
			break
		}
		size += len(mt.Raw)
		out.Matches = append(out.Matches, match{Line: mt.Line, Entry: json.RawMessage(slices.Clone(mt.Raw))})
	}
	return &logical.Response{Data: out}, nil
}
