// Package search serves sys/access/search: find KV version 2 secrets by
// path glob, mount, custom_metadata, update and last-read times and
// creator, across the mounts the caller may list, each hit filtered by
// the caller's ACL, its metadata shown (and filtered on) only where the
// caller may read it, in pages that examine a bounded number of keys. It reaches the mounts through the [Core] interface it
// declares and imports no core or engine package. An [API] is safe for
// concurrent use.
package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Mount is one mount whose secrets can be searched.
type Mount struct {
	// Path is the mount point, "secret/".
	Path string
	// Walker walks the mount's secrets.
	Walker logical.SecretWalker
}

// Core is what the endpoint needs from core.
type Core interface {
	// SecretMounts returns the mounts whose backend is a
	// [logical.SecretWalker] (the KV version 2 mounts).
	SecretMounts() []Mount
}

// filterWalker is implemented by walkers that ask about each key by path
// before reading anything of it (the KV version 2 engine), so that the
// ACL check and the scan budget come before the loads.
type filterWalker interface {
	WalkSecretsFiltered(ctx context.Context, prefix, after string, visit func(k string) (load, more bool), fn func(logical.SecretInfo) (bool, error)) error
}

// afterWalker is implemented by walkers that can start after a key, so
// that a later page does not read the keys of the earlier ones again.
type afterWalker interface {
	WalkSecretsAfter(ctx context.Context, prefix, after string, fn func(logical.SecretInfo) (bool, error)) error
}

// minScanBudget is the fewest keys one search may examine; a search
// examines at most max(10*limit, minScanBudget) keys (see [scan]).
const minScanBudget = 1000

// Options configures an [API].
type Options struct {
	Core Core
}

// API serves sys/access/search.
type API struct {
	opts Options
}

// New returns the search endpoint.
func New(opts Options) *API { return &API{opts: opts} }

// Paths returns the endpoint, relative to sys/.
func (a *API) Paths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    `access/search`,
		Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: a.search},
		Synopsis:   "Find secrets by path glob, custom metadata, update and last-read times and creator, filtered by the caller's ACL.",
	}}
}

// hit is one secret found; never a value. A hit whose metadata the
// caller may not read (mount+"metadata/"+path) carries its mount and path
// only, every other member empty.
type hit struct {
	Mount             string            `json:"mount"`
	Path              string            `json:"path"`
	CurrentVersion    int               `json:"current_version"`
	CreatedTime       string            `json:"created_time"`
	UpdatedTime       string            `json:"updated_time"`
	LastReadTime      string            `json:"last_read_time"`
	CreatedByAccessor string            `json:"created_by_accessor"`
	CreatedByEntityID string            `json:"created_by_entity_id"`
	CustomMetadata    map[string]string `json:"custom_metadata"`
	ExpireTime        string            `json:"expire_time"`
}

// answer is the endpoint's data. When the search stopped before the end
// (the page is full, or it examined as many keys as one page may),
// NextAfter is the full path of the last key examined: the next page is
// asked with after set to it. It may be a key the caller does not see.
type answer struct {
	Secrets   []hit  `json:"secrets"`
	NextAfter string `json:"next_after,omitempty"`
}

// scan is the state of one search across its mounts: the keys it may
// still examine and the last one examined.
type scan struct {
	left    int
	last    string // mount + path
	stopped bool   // the page is full or left ran out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (a *API) search(ctx context.Context, req *logical.Request, _ *framework.Match) (*logical.Response, error) {
	f, err := ParseFilter(req.Query)
	if err != nil {
		return nil, err
	}
	mounts := slices.Clone(a.opts.Core.SecretMounts())
	slices.SortFunc(mounts, func(x, y Mount) int { return strings.Compare(x.Path, y.Path) })
	out := answer{Secrets: []hit{}}
	budget := max(10*f.Limit, minScanBudget)
	sc := &scan{left: budget}
	for _, m := range mounts {
		if sc.stopped {
			break
		}
		if err := a.searchMount(ctx, req.Access, m, f, sc, &out); err != nil {
			return nil, err
		}
	}
	resp := &logical.Response{Data: &out}
	if sc.stopped {
		out.NextAfter = sc.last
		if len(out.Secrets) < f.Limit {
			resp.Warnings = append(resp.Warnings, fmt.Sprintf("%d keys were examined, the most for one page; search again with after set to next_after for the next page", budget))
		}
	}
	return resp, nil
}

// searchMount adds to out the secrets of m that f matches and the caller
// may see, until out holds f.Limit or sc runs out. Each key is checked
// against the caller's ACL and the glob by path, before anything of it is
// read: a key the caller may see shows its path; its metadata is shown,
// and the filters on metadata apply, only when the caller may read it
// (mount+"metadata/"+path); with such a filter set, a key whose metadata
// the caller may not read is left out, so that the filter tells nothing
// about it.
func (a *API) searchMount(ctx context.Context, access logical.AccessChecker, m Mount, f *Filter, sc *scan, out *answer) error {
	if access == nil || (f.Mount != "" && f.Mount != m.Path) {
		return nil
	}
	// Where to start in the mount: after f.After, at the glob's literal prefix.
	after := ""
	switch {
	case strings.HasPrefix(f.After, m.Path):
		after = f.After[len(m.Path):]
	case f.After > m.Path:
		return nil // the whole mount sorts before the page
	}
	prefix := ""
	if f.Glob != nil {
		lit := f.Glob.Prefix()
		switch {
		case strings.HasPrefix(lit, m.Path):
			prefix = lit[len(m.Path):]
		case !strings.HasPrefix(m.Path, lit):
			return nil // no path of this mount matches
		}
	}
	if !mayListFrom(access, m.Path, prefix) {
		return nil
	}
	usesMeta := f.UsesMetadata()
	add := func(h hit) {
		out.Secrets = append(out.Secrets, h)
		if len(out.Secrets) >= f.Limit {
			sc.stopped = true
		}
	}
	visit := func(k string) (load, more bool) {
		if k <= after {
			return false, true // a walker that cannot start after a key
		}
		sc.left--
		sc.last = m.Path + k
		if sc.left <= 0 {
			sc.stopped = true
		}
		switch {
		case f.Glob != nil && !f.Glob.Match(m.Path+k), !logical.MayViewKVKey(access, m.Path, k):
		case logical.MayReadKVMetadata(access, m.Path, k):
			load = true
		case !usesMeta:
			add(hit{Mount: m.Path, Path: k}) // the path only, nothing read
		}
		return load, !sc.stopped
	}
	fn := func(s logical.SecretInfo) (bool, error) {
		if f.Match(m.Path, &s) {
			add(hit{
				Mount: m.Path, Path: s.Path, CurrentVersion: s.CurrentVersion,
				CreatedTime: formatTime(s.CreatedTime), UpdatedTime: formatTime(s.UpdatedTime),
				LastReadTime:      formatTime(s.LastRead),
				CreatedByAccessor: s.CreatedByAccessor, CreatedByEntityID: s.CreatedByEntity,
				CustomMetadata: s.CustomMetadata, ExpireTime: formatTime(s.ExpireTime),
			})
		}
		return !sc.stopped, nil
	}
	return walk(ctx, m.Walker, prefix, after, visit, fn)
}

// walk walks w's secrets under prefix after after, asking visit about
// each key before fn sees it: by path before any load when w is a
// [filterWalker], after the load otherwise.
func walk(ctx context.Context, w logical.SecretWalker, prefix, after string, visit func(string) (bool, bool), fn func(logical.SecretInfo) (bool, error)) error {
	if fw, ok := w.(filterWalker); ok {
		return fw.WalkSecretsFiltered(ctx, prefix, after, visit, fn)
	}
	g := func(s logical.SecretInfo) (bool, error) {
		load, more := visit(s.Path)
		if !load {
			return more, nil
		}
		goOn, err := fn(s)
		return goOn && more, err
	}
	if aw, ok := w.(afterWalker); ok {
		return aw.WalkSecretsAfter(ctx, prefix, after, g)
	}
	return w.WalkSecrets(ctx, prefix, g)
}

// mayListFrom reports whether the caller may list, in the mount, the
// folder where a walk of prefix starts or one of its parents: the search
// then finds what a recursive list from that folder would show.
func mayListFrom(access logical.AccessChecker, mount, prefix string) bool {
	folder := prefix[:strings.LastIndex(prefix, "/")+1]
	for {
		if access.Allowed(mount+"metadata/"+folder, logical.ListOperation) {
			return true
		}
		if folder == "" {
			return false
		}
		folder = folder[:strings.LastIndex(folder[:len(folder)-1], "/")+1]
	}
}
