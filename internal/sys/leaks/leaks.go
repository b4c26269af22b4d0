// Package leaks serves sys/leaks/check: given the SHA-256 hashes of
// candidate strings a scanner found (never the strings), it answers which
// are live secrets stored in Coffer, from the fingerprint index of
// package internal/leaks. A match the caller may read (read on the
// secret's data path) is answered with its mount, path, field, version and
// whether that version is current; a match it may not read only as "a
// live secret you cannot read". The endpoint needs its own capability
// (update on sys/leaks/check, which no default policy grants), is rate
// limited per identity entity (per token accessor for a token without
// one) and across all callers, and every call is audited by the pipeline
// like any request. A match of a current value raises a leak/detected
// event, published after the answer by a goroutine of the [API]'s own.
//
// The package reaches the index through the [Checker] interface it
// declares and imports no core or engine package. An [API] is safe for
// concurrent use.
package leaks

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"strconv"
	"sync"

	"github.com/coffer-secrets/coffer/internal/leaks"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// EventDetected is the type of the event a match of a current value
// raises.
const EventDetected = "leak/detected"

// MaxReadable is the most readable matches answered for one candidate;
// past it the candidate's last match has truncated set and no more
// places are checked against the caller's ACL.
const MaxReadable = 16

// MaxEvents is the most leak/detected events one call raises: one per
// secret whose current value matched, the first MaxEvents secrets.
const MaxEvents = 100

// ReadGuard is what a request's [logical.AccessChecker] implements when
// reads may be refused beyond the ACL (core's: an incident lockdown). A
// match whose read path it withholds is not readable.
type ReadGuard interface {
	ReadWithheld(path string) bool
}

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
	// Logger logs dropped events; nil discards.
	Logger *slog.Logger
	// Clock drives the rate limits; nil is the system clock.
	Clock logical.Clock
	// Limits are the rate limits; zero fields take [DefaultLimits]'
	// values.
	Limits Limits
}

// API serves sys/leaks/check.
type API struct {
	opts    Options
	limiter *limiter
	events  *publisher
}

// New returns the endpoint.
func New(opts Options) *API {
	if opts.Events == nil {
		opts.Events = logical.DiscardEvents{}
	}
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{opts: opts, limiter: newLimiter(opts.Limits.withDefaults()), events: &publisher{send: opts.Events, log: opts.Logger}}
}

// Paths returns the endpoint, relative to sys/.
func (a *API) Paths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    `leaks/check`,
		Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: a.check},
		Synopsis:   "Tell which candidate values (given as SHA-256 hashes) are live secrets stored in Coffer.",
	}}
}

// limitKey names the rate limit buckets of req's caller: its identity
// entity, shared by every token of that entity (its children and each
// login); for a token without an entity, its accessor; for a batch token
// without an entity (no accessor either), one set of buckets they all
// share.
func limitKey(req *logical.Request) string {
	switch {
	case req.EntityID != "":
		return "entity:" + req.EntityID
	case req.Accessor != "":
		return "accessor:" + req.Accessor
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
	// Trashed marks a readable match in a secret deleted with a recovery
	// window (current is false; recover/ brings it back).
	Trashed bool `json:"trashed,omitempty"`
	// Truncated, on a candidate's last readable match, says the value
	// lives in more places than answered.
	Truncated bool `json:"truncated,omitempty"`
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
	// One event per secret whose current value matched, at most
	// MaxEvents per call; sent after the answer (see publisher).
	raised := make(map[string]bool)
	var events []map[string]string
	for i, places := range found {
		if len(places) == 0 {
			continue
		}
		readable := 0
		truncated := len(places) >= leaks.MaxPlaces
		for _, p := range places {
			switch {
			case readable == MaxReadable:
				truncated = true
			case mayRead(req.Access, p.ReadPath):
				readable++
				out.Matches = append(out.Matches, Match{
					Index: i, Readable: true, Mount: p.MountPath, Path: p.Path, Key: p.Field,
					Version: new(p.Version), Current: new(p.Current), Kind: p.Kind, Trashed: p.Trashed,
				})
			}
			if p.Current && !raised[p.ReadPath] && len(events) < MaxEvents {
				raised[p.ReadPath] = true
				events = append(events, map[string]string{
					"mount":     p.MountPath,
					"path":      p.MountPath + p.Path,
					"data_path": p.ReadPath,
					"version":   strconv.Itoa(p.Version),
					"kind":      p.Kind,
					"accessor":  req.Accessor,
				})
			}
		}
		switch {
		case readable == 0:
			out.Matches = append(out.Matches, Match{Index: i})
		case truncated:
			out.Matches[len(out.Matches)-1].Truncated = true
		}
	}
	a.events.enqueue(events)
	resp := &logical.Response{Data: &out}
	if len(ignored) > 0 {
		resp.Warnings = []string{framework.IgnoredWarning(ignored)}
	}
	return resp, nil
}

// maxQueued bounds the events waiting to be published.
const maxQueued = 10_000

// publisher sends leak/detected events off the request path, so that how
// long a call takes does not tell whether it raised events (publishing
// may enqueue webhooks, which writes storage). A goroutine runs only
// while events wait; past maxQueued waiting, new ones are dropped and
// counted.
type publisher struct {
	send logical.EventSender
	log  *slog.Logger

	mu      sync.Mutex
	queue   []map[string]string // guarded by mu
	running bool                // a goroutine drains queue; guarded by mu
	dropped int                 // events dropped since the last log; guarded by mu
}

// enqueue hands evs to the publishing goroutine, starting it if none
// runs.
func (p *publisher) enqueue(evs []map[string]string) {
	if len(evs) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if room := maxQueued - len(p.queue); len(evs) > room {
		p.dropped += len(evs) - room
		evs = evs[:room]
	}
	p.queue = append(p.queue, evs...)
	if !p.running && len(p.queue) > 0 {
		p.running = true
		go p.run()
	}
}

// run publishes the queued events until none are left.
func (p *publisher) run() {
	for {
		p.mu.Lock()
		batch, dropped := p.queue, p.dropped
		p.queue, p.dropped = nil, 0
		if len(batch) == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		if dropped > 0 {
			p.log.Warn("sys/leaks/check: leak/detected events dropped: too many waiting", "dropped", dropped)
		}
		for _, md := range batch {
			p.send.SendEvent(context.Background(), EventDetected, md)
		}
	}
}

// mayRead reports whether access lets its caller read path: its ACL
// allows it and, when access is a [ReadGuard], no lockdown withholds it.
func mayRead(access logical.AccessChecker, path string) bool {
	if access == nil || !access.Allowed(path, logical.ReadOperation) {
		return false
	}
	g, ok := access.(ReadGuard)
	return !ok || !g.ReadWithheld(path)
}
