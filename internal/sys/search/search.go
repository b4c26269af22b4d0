// Package search serves sys/access/search: find KV version 2 secrets by
// path glob, mount, custom_metadata, update and last-read times and
// creator, across the mounts the caller may list, each hit filtered by
// the caller's ACL. It reaches the mounts through the [Core] interface it
// declares and imports no core or engine package. An [API] is safe for
// concurrent use.
package search

import (
	"context"
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

// afterWalker is implemented by walkers that can start after a key, so
// that a later page does not read the keys of the earlier ones again.
type afterWalker interface {
	WalkSecretsAfter(ctx context.Context, prefix, after string, fn func(logical.SecretInfo) (bool, error)) error
}

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

// hit is one secret found; never a value.
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

// answer is the endpoint's data. A page holding limit secrets may have a
// next one: ask again with after set to the last secret's mount and path.
type answer struct {
	Secrets []hit `json:"secrets"`
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
	for _, m := range mounts {
		if len(out.Secrets) >= f.Limit {
			break
		}
		if err := a.searchMount(ctx, req.Access, m, f, &out); err != nil {
			return nil, err
		}
	}
	return &logical.Response{Data: &out}, nil
}

// searchMount adds to out the secrets of m that f matches and the caller
// may see, until out holds f.Limit.
func (a *API) searchMount(ctx context.Context, access logical.AccessChecker, m Mount, f *Filter, out *answer) error {
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
	fn := func(s logical.SecretInfo) (bool, error) {
		if s.Path <= after {
			return true, nil
		}
		if f.Match(m.Path, &s) && maySee(access, m.Path, s.Path) {
			out.Secrets = append(out.Secrets, hit{
				Mount: m.Path, Path: s.Path, CurrentVersion: s.CurrentVersion,
				CreatedTime: formatTime(s.CreatedTime), UpdatedTime: formatTime(s.UpdatedTime),
				LastReadTime:      formatTime(s.LastRead),
				CreatedByAccessor: s.CreatedByAccessor, CreatedByEntityID: s.CreatedByEntity,
				CustomMetadata: s.CustomMetadata, ExpireTime: formatTime(s.ExpireTime),
			})
		}
		return len(out.Secrets) < f.Limit, nil
	}
	if w, ok := m.Walker.(afterWalker); ok {
		return w.WalkSecretsAfter(ctx, prefix, after, fn)
	}
	return m.Walker.WalkSecrets(ctx, prefix, fn)
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

// maySee is the rule of KV recursive lists: the caller sees key k of the
// mount when it may read its data, or read or list its metadata.
func maySee(access logical.AccessChecker, mount, k string) bool {
	return access.Allowed(mount+"data/"+k, logical.ReadOperation) ||
		access.Allowed(mount+"metadata/"+k, logical.ReadOperation) ||
		access.Allowed(mount+"metadata/"+k, logical.ListOperation)
}
