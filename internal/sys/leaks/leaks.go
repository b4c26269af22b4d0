// Package leaks serves sys/leaks/check: given the SHA-256 hashes of
// candidate strings a scanner found (never the strings), it answers which
// are live secrets stored in Coffer, from the fingerprint index of
// package internal/leaks. A match the caller may read (read on the
// secret's data path) is answered with its mount, path, field, version and
// whether that version is current; a match it may not read only as "a
// live secret you cannot read". The endpoint needs its own capability
// (update on sys/leaks/check, which no default policy grants), is rate
// limited per token accessor, and every call is audited by the pipeline
// like any request. A match of a current value raises a leak/detected
// event.
//
// The package reaches the index through the [Checker] interface it
// declares and imports no core or engine package. An [API] is safe for
// concurrent use.
package leaks

import (
	"context"
	"crypto/sha256"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/leaks"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// EventDetected is the type of the event a match of a current value
// raises.
const EventDetected = "leak/detected"

// Checker answers where values live; [leaks.Index] implements it.
type Checker interface {
	Check(ctx context.Context, hashes [][sha256.Size]byte) ([][]leaks.Place, error)
}

// Options configures an [API].
type Options struct {
	// Index answers the checks.
	Index Checker
	// Events publishes leak/detected; nil drops them.
	Events logical.EventSender
	// Clock drives the rate limits; nil is the system clock.
	Clock logical.Clock
	// Limits are the per-accessor rate limits; zero fields take
	// [DefaultLimits]' values.
	Limits Limits
}

// API serves sys/leaks/check.
type API struct {
	opts    Options
	limiter *limiter
}

// New returns the endpoint.
func New(opts Options) *API {
	if opts.Events == nil {
		opts.Events = logical.DiscardEvents{}
	}
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	return &API{opts: opts, limiter: newLimiter(opts.Limits.withDefaults())}
}

// Paths returns the endpoint, relative to sys/.
func (a *API) Paths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    `leaks/check`,
		Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: a.check},
		Synopsis:   "Tell which candidate values (given as SHA-256 hashes) are live secrets stored in Coffer.",
	}}
}

// limitKey names the rate limit buckets of req's caller: its token's
// accessor; for a token without one (a batch token), its entity, and
// for a batch token without an entity, one set of buckets they share.
func limitKey(req *logical.Request) string {
	switch {
	case req.Accessor != "":
		return "accessor:" + req.Accessor
	case req.EntityID != "":
		return "entity:" + req.EntityID
	}
	return "batch"
}

// Match is one entry of the answer. A match the caller may not read has
// Index and Readable only.
type Match struct {
	Index    int    `json:"index"`
	Readable bool   `json:"readable"`
	Mount    string `json:"mount,omitempty"`
	Path     string `json:"path,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  *int   `json:"version,omitempty"`
	Current  *bool  `json:"current,omitempty"`
	Kind     string `json:"kind,omitempty"`
}

// Answer is the endpoint's data.
type Answer struct {
	Matches []Match `json:"matches"`
	Checked int     `json:"checked"`
}

func (a *API) check(ctx context.Context, req *logical.Request, _ *framework.Match) (*logical.Response, error) {
	hashes, ignored, err := ParseRequest(req.Body)
	if err != nil {
		return nil, err
	}
	if err := a.limiter.allow(limitKey(req), len(hashes), a.opts.Clock.Now()); err != nil {
		return nil, err
	}
	found, err := a.opts.Index.Check(ctx, hashes)
	if err != nil {
		return nil, err
	}
	out := Answer{Matches: []Match{}, Checked: len(hashes)}
	type placeID struct {
		readPath, field string
		version         int
	}
	raised := make(map[placeID]bool)
	for i, places := range found {
		if len(places) == 0 {
			continue
		}
		readable := false
		for _, p := range places {
			if req.Access != nil && req.Access.Allowed(p.ReadPath, logical.ReadOperation) {
				readable = true
				out.Matches = append(out.Matches, Match{
					Index: i, Readable: true, Mount: p.MountPath, Path: p.Path, Key: p.Field,
					Version: new(p.Version), Current: new(p.Current), Kind: p.Kind,
				})
			}
			if id := (placeID{p.ReadPath, p.Field, p.Version}); p.Current && !raised[id] {
				raised[id] = true
				a.opts.Events.SendEvent(ctx, EventDetected, map[string]string{
					"mount":     p.MountPath,
					"path":      p.MountPath + p.Path,
					"data_path": p.ReadPath,
					"version":   strconv.Itoa(p.Version),
					"kind":      p.Kind,
					"accessor":  req.Accessor,
				})
			}
		}
		if !readable {
			out.Matches = append(out.Matches, Match{Index: i})
		}
	}
	resp := &logical.Response{Data: &out}
	if len(ignored) > 0 {
		resp.Warnings = []string{framework.IgnoredWarning(ignored)}
	}
	return resp, nil
}
