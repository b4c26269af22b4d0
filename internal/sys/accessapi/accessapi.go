// Package accessapi serves the access-visibility endpoints of issue 14:
// sys/access/who (who can reach a path), sys/access/what (what a principal
// can reach) and sys/access/report (the hygiene and compliance report).
//
// The policy side of every answer comes from [access.Index] and
// [access.Answer.For], so the answers follow the evaluation the request
// pipeline uses. The principals (auth roles and users, entities, groups,
// live tokens) come from an [access.Directory] that core builds; the
// secrets from the engines' optional [logical.SecretWalker] and
// [logical.ObjectLister]. The package reaches core only through the
// [Core] interface it declares and imports no core package.
//
// The answers carry token accessors, never token IDs, secret IDs or
// secret values. Every path needs sudo (see [policy.NeedsSudo]). An [API]
// is safe for concurrent use.
package accessapi

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// Core is what the endpoints need from core.
type Core interface {
	// Policies returns every ACL policy, parsed. A policy that did not
	// change must be returned as the same pointer, so that the index
	// built from them can be reused.
	Policies() []*policy.Policy
	// Directory returns a snapshot of the principals; counts asks for
	// their credential counts too (costly: only the report needs them).
	Directory(ctx context.Context, counts bool) (*access.Directory, error)
	// SecretMounts returns the secret engine mounts (not auth, sys,
	// identity or cubbyhole).
	SecretMounts() []Mount
}

// Mount is one secret engine mount.
type Mount struct {
	// Path is the mount point with a trailing slash, "secret/".
	Path string
	// Type is the engine type, "kv".
	Type string
	// Backend serves the mount; it may implement [logical.SecretWalker]
	// or [logical.ObjectLister].
	Backend logical.Backend
}

// Options configures an [API].
type Options struct {
	Core  Core
	Clock logical.Clock
}

// API serves the access endpoints.
type API struct {
	opts Options

	mu       sync.Mutex
	policies []*policy.Policy // guarded by mu; what index was built from, sorted by name
	index    *access.Index    // guarded by mu
	root     *policy.Policy   // the built-in root policy, one pointer for the index cache
}

// New returns the access endpoints.
func New(opts Options) *API {
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	return &API{opts: opts, root: &policy.Policy{Name: policy.RootPolicyName}}
}

func (a *API) now() time.Time { return a.opts.Clock.Now().UTC() }

// Paths returns the access endpoints, relative to sys/.
func (a *API) Paths() []*framework.Path {
	read := func(h framework.Handler) map[logical.Operation]framework.Handler {
		return map[logical.Operation]framework.Handler{logical.ReadOperation: h}
	}
	return []*framework.Path{
		{Pattern: `access/who`, Operations: read(a.who), Synopsis: "Who can reach a path: policies, principals, entities, groups and live tokens."},
		{Pattern: `access/what`, Operations: read(a.what), Synopsis: "What a principal can reach: its resultant ACL and the existing paths it may use."},
		{Pattern: `access/report`, Operations: read(a.report), Synopsis: "The access hygiene and compliance report."},
	}
}

// snapshot returns the policies (sorted by name) and an index over them,
// reusing the last index while no policy changed: building one over
// 10,000 policies takes longer than answering from it.
func (a *API) snapshot() ([]*policy.Policy, *access.Index) {
	pols := slices.Clone(a.opts.Core.Policies())
	if !slices.ContainsFunc(pols, func(p *policy.Policy) bool { return p.Name == policy.RootPolicyName }) {
		// The root policy is not stored, but root tokens hold it.
		pols = append(pols, a.root)
	}
	slices.SortFunc(pols, func(p, q *policy.Policy) int { return strings.Compare(p.Name, q.Name) })
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.index != nil && slices.Equal(pols, a.policies) {
		return a.policies, a.index
	}
	a.policies, a.index = pols, access.NewIndex(pols)
	return a.policies, a.index
}

// directory returns core's directory, never nil; counts as for
// [Core.Directory].
func (a *API) directory(ctx context.Context, counts bool) (*access.Directory, error) {
	d, err := a.opts.Core.Directory(ctx, counts)
	if err != nil {
		return nil, err
	}
	if d == nil {
		d = &access.Directory{}
	}
	return d, nil
}

// ruleOut is a policy rule as the answers show it.
type ruleOut struct {
	Path               string           `json:"path"`
	Capabilities       []string         `json:"capabilities"`
	RequiredParameters []string         `json:"required_parameters,omitempty"`
	AllowedParameters  map[string][]any `json:"allowed_parameters,omitempty"`
	DeniedParameters   map[string][]any `json:"denied_parameters,omitempty"`
	MinWrappingTTL     int64            `json:"min_wrapping_ttl,omitempty"`
	MaxWrappingTTL     int64            `json:"max_wrapping_ttl,omitempty"`
}

func ruleOf(r policy.Rule) ruleOut {
	caps := r.Capabilities.Strings()
	if caps == nil {
		caps = []string{}
	}
	return ruleOut{
		Path: r.Path, Capabilities: caps, RequiredParameters: r.RequiredParameters,
		AllowedParameters: r.AllowedParameters, DeniedParameters: r.DeniedParameters,
		MinWrappingTTL: int64(r.MinWrappingTTL / time.Second), MaxWrappingTTL: int64(r.MaxWrappingTTL / time.Second),
	}
}

// conditional reports whether rule r allows capability c only when the
// request meets conditions: parameter constraints (which apply to
// create, update and patch) or wrapping TTL bounds (which apply to all).
func conditional(r policy.Rule, c policy.Capability) bool {
	if r.MinWrappingTTL > 0 || r.MaxWrappingTTL > 0 {
		return true
	}
	if c&(policy.CapCreate|policy.CapUpdate|policy.CapPatch) == 0 {
		return false
	}
	return len(r.RequiredParameters) > 0 || len(r.AllowedParameters) > 0 || len(r.DeniedParameters) > 0
}

// sortedSet returns names sorted and without duplicates or empties.
func sortedSet(names ...[]string) []string {
	var out []string
	for _, ns := range names {
		for _, n := range ns {
			if n != "" {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
