package incident

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/duration"
	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// containInput is the body of sys/incident/contain. Each criterion takes
// one value, a comma-separated string or a list.
type containInput struct {
	// ID re-runs an open incident (retrying its failed steps and
	// containing tokens made since); criteria are then not allowed.
	ID               string                 `json:"id"`
	Accessor         framework.CommaStrings `json:"accessor"`
	EntityID         framework.CommaStrings `json:"entity_id"`
	Role             framework.CommaStrings `json:"role"`
	SecretIDAccessor framework.CommaStrings `json:"secret_id_accessor"`
	CertSerial       framework.CommaStrings `json:"cert_serial"`
	SourceCIDR       framework.CommaStrings `json:"source_cidr"`
	// Since is an RFC 3339 time, or a duration back from now ("24h").
	Since  string `json:"since"`
	Reason string `json:"reason"`
}

func (in *containInput) criteria(now time.Time) (incident.Criteria, error) {
	c := incident.Criteria{
		Accessors: in.Accessor, EntityIDs: in.EntityID, Roles: in.Role,
		SecretIDAccessors: in.SecretIDAccessor, CertSerials: in.CertSerial, SourceCIDRs: in.SourceCIDR,
	}
	if in.Since != "" {
		t, err := parseSince(in.Since, now)
		if err != nil {
			return c, err
		}
		c.Since = t
	}
	if err := c.Normalize(); err != nil {
		return c, logical.InvalidRequest("%s", err.Error())
	}
	return c, nil
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := duration.Parse(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, logical.InvalidRequest("since %q: want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (24h)", s)
}

// containTimeout bounds one containment run. The run does not end with
// the request: a client that disconnects must not leave it half done and
// unrecorded.
const containTimeout = 15 * time.Minute

func (a *API) contain(ctx context.Context, _ *logical.Request, _ *framework.Match, in *containInput) (*logical.Response, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), containTimeout)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	var r *incident.Record
	if in.ID != "" {
		if len(in.Accessor)+len(in.EntityID)+len(in.Role)+len(in.SecretIDAccessor)+len(in.CertSerial)+len(in.SourceCIDR) > 0 || in.Since != "" {
			return nil, logical.InvalidRequest("give either id (to re-run an incident) or criteria, not both")
		}
		old, err := a.load(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if old.Status != incident.StatusOpen {
			return nil, logical.InvalidRequest("incident %s was released; open a new one", old.ID)
		}
		r = old
	} else {
		crit, err := in.criteria(now)
		if err != nil {
			return nil, err
		}
		r = &incident.Record{
			ID: a.opts.NewID(), Status: incident.StatusOpen, OpenedAt: now,
			OpenedBy: a.opts.Core.Caller(ctx), Reason: in.Reason, Criteria: crit,
			Entities: slices.Clone(crit.EntityIDs),
			Blocks:   incident.Blocks{Roles: crit.Roles, CertSerials: crit.CertSerials, CIDRs: crit.SourceCIDRs},
			Steps:    []incident.Step{},
		}
	}
	if err := a.run(ctx, r); err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: r}
	if f := r.Failed(); len(f) > 0 {
		resp.Warnings = append(resp.Warnings, fmt.Sprintf("%d containment step(s) failed; re-run contain with id=%s to retry them", len(f), r.ID))
	}
	return resp, nil
}

// plan is what one run of contain found.
type plan struct {
	roots    []*incident.Token // matched tokens without a matched ancestor
	children map[string][]*incident.Token
	secretID []incident.SecretID
}

// match finds the tokens the record's criteria and entities match.
func (a *API) match(ctx context.Context, r *incident.Record) (*plan, error) {
	toks, err := a.opts.Core.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	p := &plan{children: map[string][]*incident.Token{}}
	byHash := make(map[string]*incident.Token, len(toks))
	for i := range toks {
		t := &toks[i]
		byHash[t.Hash] = t
		if t.ParentHash != "" {
			p.children[t.ParentHash] = append(p.children[t.ParentHash], t)
		}
	}
	matched := map[string]bool{}
	for i := range toks {
		t := &toks[i]
		if r.Criteria.Matches(t) {
			matched[t.Hash] = true
			if t.EntityID != "" && !slices.Contains(r.Entities, t.EntityID) {
				r.Entities = append(r.Entities, t.EntityID)
			}
		}
	}
	// A contained identity loses every token it holds.
	for i := range toks {
		if t := &toks[i]; t.EntityID != "" && slices.Contains(r.Entities, t.EntityID) {
			matched[t.Hash] = true
		}
	}
	slices.Sort(r.Entities)
	for h := range matched {
		t := byHash[h]
		covered := false
		for ph := t.ParentHash; ph != "" && byHash[ph] != nil; ph = byHash[ph].ParentHash {
			if matched[ph] {
				covered = true
				break
			}
		}
		if !covered {
			p.roots = append(p.roots, t)
		}
	}
	slices.SortFunc(p.roots, func(x, y *incident.Token) int { return strings.Compare(x.Accessor, y.Accessor) })
	seen := map[string]bool{}
	for h := range matched {
		t := byHash[h]
		if sid := t.InternalData["secret_id_accessor"]; sid != "" && !seen[sid] {
			seen[sid] = true
			p.secretID = append(p.secretID, incident.SecretID{Mount: t.Mount, Role: t.Role(), Accessor: sid})
		}
	}
	for _, acc := range r.Criteria.SecretIDAccessors {
		if !seen[acc] {
			seen[acc] = true
			p.secretID = append(p.secretID, incident.SecretID{Accessor: acc})
		}
	}
	return p, nil
}

// step runs fn up to attempts times and records its outcome in r,
// replacing the outcome of an earlier run of the same action on the same
// target.
func (a *API) step(ctx context.Context, r *incident.Record, action, target string, fn func() error) bool {
	var err error
	for i := range attempts {
		if err = fn(); err == nil {
			break
		}
		if i+1 < attempts {
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(i+1) * 50 * time.Millisecond):
			}
		}
	}
	s := incident.Step{Action: action, Target: target, Outcome: incident.OutcomeOK, Time: a.now()}
	if err != nil {
		s.Outcome, s.Error = incident.OutcomeFailed, errText(err)
		a.opts.Logger.Error("incident containment step failed", "incident", r.ID, "action", action, "err", err)
	}
	if i := slices.IndexFunc(r.Steps, func(o incident.Step) bool { return o.Action == action && o.Target == target }); i >= 0 {
		s.Attempts = r.Steps[i].Attempts + 1
		r.Steps[i] = s
	} else {
		s.Attempts = 1
		r.Steps = append(r.Steps, s)
	}
	return err == nil
}

// run contains what r matches, in the order that leaves the attacker the
// least: blocks first (stored, so every node refuses at once), then the
// identities, the secret IDs and last the tokens and their leases.
func (a *API) run(ctx context.Context, r *incident.Record) error {
	p, err := a.match(ctx, r)
	if err != nil {
		return err
	}
	for _, role := range r.Blocks.Roles {
		a.step(ctx, r, "block-role", role, func() error { return nil })
	}
	for _, s := range r.Blocks.CertSerials {
		a.step(ctx, r, "deny-cert-serial", s, func() error { return nil })
	}
	for _, c := range r.Blocks.CIDRs {
		a.step(ctx, r, "ban-cidr", c, func() error { return nil })
	}
	if err := a.save(ctx, r); err != nil {
		return err
	}
	if err := a.Load(ctx); err != nil {
		return err
	}
	for _, id := range r.Entities {
		a.step(ctx, r, "disable-entity", id, func() error {
			exists, disabled, err := a.opts.Core.Entity(ctx, id)
			if err != nil || !exists || disabled {
				return err
			}
			if err := a.opts.Core.SetEntityDisabled(ctx, id, true); err != nil {
				return err
			}
			r.DisabledEntities = append(r.DisabledEntities, id)
			return nil
		})
	}
	for _, s := range p.secretID {
		a.step(ctx, r, "destroy-secret-id", s.Accessor, func() error {
			found, err := a.opts.Core.DestroySecretID(ctx, s.Mount, s.Role, s.Accessor)
			if err == nil && found && !slices.Contains(r.SecretIDs, s) {
				r.SecretIDs = append(r.SecretIDs, s)
			}
			return err
		})
	}
	for _, t := range p.roots {
		levels := p.levels(t)
		tree := a.collect(ctx, levels)
		if a.step(ctx, r, "revoke-token", t.Accessor, func() error { return a.revokeTree(ctx, levels) }) {
			r.Revoked = append(r.Revoked, tree...)
		}
	}
	return a.save(ctx, r)
}

// workers is how many look-ups of a contained token's leases run at once
// (the revocation itself is batched by the token store).
const workers = 64

// levels returns the tree under root by depth: root alone, its children,
// their children ...
func (p *plan) levels(root *incident.Token) [][]*incident.Token {
	out := [][]*incident.Token{{root}}
	for {
		var next []*incident.Token
		for _, t := range out[len(out)-1] {
			next = append(next, p.children[t.Hash]...)
		}
		if len(next) == 0 {
			return out
		}
		out = append(out, next)
	}
}

// parallel calls fn for each of n items on up to workers goroutines and
// returns the errors joined.
func parallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// revokeTree revokes a tree through its root: the token store takes the
// tree from storage (so anything made under it since the plan goes too)
// deepest level first, in batches of tokens, one storage transaction
// each, so that no token outlives its parent even if revocation stops
// half way.
func (a *API) revokeTree(ctx context.Context, levels [][]*incident.Token) error {
	return a.opts.Core.RevokeToken(ctx, levels[0][0].Hash)
}

// collect lists the tokens of a tree with their leases, before they are
// revoked.
func (a *API) collect(ctx context.Context, levels [][]*incident.Token) []incident.RevokedToken {
	root := levels[0][0]
	var all []*incident.Token
	for _, lv := range levels {
		all = append(all, lv...)
	}
	out := make([]incident.RevokedToken, len(all))
	parallel(len(all), func(i int) error {
		t := all[i]
		leases, err := a.opts.Core.TokenLeases(ctx, t.Hash)
		if err != nil {
			a.opts.Logger.Warn("list a contained token's leases", "err", err)
		}
		out[i] = incident.RevokedToken{Accessor: t.Accessor, EntityID: t.EntityID, Path: t.Path, Leases: leases}
		if t != root {
			out[i].Via = root.Accessor
		}
		return nil
	})
	return out
}

type releaseInput struct {
	ID string `json:"id"`
}

func (a *API) release(ctx context.Context, _ *logical.Request, _ *framework.Match, in *releaseInput) (*logical.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if in.ID == "" {
		return nil, logical.InvalidRequest("missing id: the incident to release")
	}
	r, err := a.load(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if r.Status == incident.StatusOpen {
		by := a.opts.Core.Caller(ctx)
		r.Status, r.ReleasedAt, r.ReleasedBy = incident.StatusReleased, a.now(), &by
	}
	var still []string
	for _, id := range r.DisabledEntities {
		if !a.step(ctx, r, "enable-entity", id, func() error {
			exists, _, err := a.opts.Core.Entity(ctx, id)
			if err != nil || !exists {
				return err
			}
			return a.opts.Core.SetEntityDisabled(ctx, id, false)
		}) {
			still = append(still, id)
		}
	}
	r.DisabledEntities = still
	if err := a.save(ctx, r); err != nil {
		return nil, err
	}
	if err := a.Load(ctx); err != nil {
		return nil, err
	}
	resp := &logical.Response{Data: r}
	if len(still) > 0 {
		resp.Warnings = []string{fmt.Sprintf("%d entities could not be enabled again; re-run release to retry", len(still))}
	}
	return resp, nil
}
