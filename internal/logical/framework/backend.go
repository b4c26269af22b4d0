package framework

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Handler answers one operation on one [Path]. m holds the path's named
// captures.
type Handler func(ctx context.Context, req *logical.Request, m *Match) (*logical.Response, error)

// Path is one row of a backend's path table.
type Path struct {
	// Pattern is a regular expression in Go syntax matched against the
	// whole request path (it is anchored for you). Named groups such as
	// (?P<path>.+) become captures readable with [Match.Get].
	Pattern string
	// Operations maps each supported operation to its handler. A create
	// request falls back to the update handler when there is no create
	// handler, because core sends create for an update of a missing object.
	Operations map[logical.Operation]Handler
	// ExistenceCheck, when set, reports whether the object a create or
	// update request would write exists already. Nil means the path does
	// not tell create from update.
	ExistenceCheck func(ctx context.Context, req *logical.Request, m *Match) (bool, error)
	// Synopsis is a one-line description for help output.
	Synopsis string
	// TopLevel sets [logical.Response.TopLevel] on every response of the
	// path: its data is repeated at the top level of the HTTP answer, for
	// Vault's older sys endpoints.
	TopLevel bool
}

// Backend is a path table implementing [logical.Backend] and
// [logical.ExistenceChecker]. Paths are tried in order and the first whose
// pattern matches the whole request path wins.
//
// Paths must not be changed after the first request; the patterns are
// compiled once, on first use or by [Backend.Compile]. A Backend is safe
// for concurrent use.
type Backend struct {
	// Paths is the path table, in match order.
	Paths []*Path

	once     sync.Once
	compiled []*regexp.Regexp // written once by compile, then read-only
	err      error            // written once by compile
}

// Compile compiles every pattern and reports the first bad one. Factories
// call it so that a broken table fails the mount rather than a request;
// calling it is optional and repeated calls return the same result.
func (b *Backend) Compile() error {
	b.once.Do(b.compile)
	return b.err
}

func (b *Backend) compile() {
	res := make([]*regexp.Regexp, len(b.Paths))
	for i, p := range b.Paths {
		re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
		if err != nil {
			b.err = fmt.Errorf("compile path pattern %q: %w", p.Pattern, err)
			return
		}
		res[i] = re
	}
	b.compiled = res
}

// route finds the first path matching p. It returns nil when none does.
func (b *Backend) route(p string) (*Path, *Match, error) {
	if err := b.Compile(); err != nil {
		return nil, nil, err
	}
	for i, re := range b.compiled {
		sub := re.FindStringSubmatch(p)
		if sub == nil {
			continue
		}
		return b.Paths[i], &Match{names: re.SubexpNames(), values: sub}, nil
	}
	return nil, nil, nil
}

// Serves reports whether some path of the table matches p (relative to
// the mount), whatever the operation.
func (b *Backend) Serves(p string) bool {
	path, _, err := b.route(p)
	return err == nil && path != nil
}

// HandleRequest routes req to the handler for its path and operation. It
// returns an [logical.ErrUnsupportedPath] error when no pattern matches and
// an [logical.ErrUnsupportedOperation] error when the path has no handler
// for the operation.
func (b *Backend) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	p, m, err := b.route(req.Path)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, logical.UnsupportedPath(req.Path)
	}
	h := p.Operations[req.Operation]
	if h == nil && req.Operation == logical.CreateOperation {
		h = p.Operations[logical.UpdateOperation]
	}
	if h == nil {
		return nil, logical.Unsupported(req.Operation, req.Path)
	}
	resp, err := h(ctx, req, m)
	if resp != nil && p.TopLevel {
		resp.TopLevel = true
	}
	return resp, err
}

// ExistenceCheck implements [logical.ExistenceChecker]. handled is false
// when no path matches or the matching path has no ExistenceCheck; core
// then treats the request as an update.
func (b *Backend) ExistenceCheck(ctx context.Context, req *logical.Request) (exists, handled bool, err error) {
	p, m, err := b.route(req.Path)
	if err != nil || p == nil || p.ExistenceCheck == nil {
		return false, false, err
	}
	exists, err = p.ExistenceCheck(ctx, req, m)
	if err != nil {
		return false, false, err
	}
	return exists, true, nil
}

// Match is the result of matching a request path against a [Path]
// pattern. A nil *Match has no captures.
type Match struct {
	names  []string // group names from the pattern; names[0] is ""
	values []string // values[0] is the whole path
}

// Get returns the named capture, or "" when the group did not take part in
// the match or does not exist.
func (m *Match) Get(name string) string {
	if m == nil || name == "" {
		return ""
	}
	for i, n := range m.names {
		if n == name && i < len(m.values) {
			return m.values[i]
		}
	}
	return ""
}

// has reports whether the path has a capture named name.
func (m *Match) has(name string) bool {
	return m != nil && name != "" && slices.Contains(m.names, name)
}
