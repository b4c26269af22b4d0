package accessapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/access"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/policy"
)

// The report's defaults.
const (
	defaultUnreadDays    = 90
	defaultUnrotatedDays = 90
	defaultMaxPrincipals = 10
	// maxReportSecrets bounds the secrets one report walks.
	maxReportSecrets = 100000
	// maxReportDays bounds the day counts a caller may give.
	maxReportDays = 36500
)

// ReportParams are the report's thresholds.
type ReportParams struct {
	// UnreadDays: secrets not read for this many days are listed.
	UnreadDays int `json:"unread_days"`
	// UnrotatedDays: secrets not changed for this many days are listed.
	UnrotatedDays int `json:"unrotated_days"`
	// MaxPrincipals: secrets readable by more principals (auth roles and
	// users, entities) are listed.
	MaxPrincipals int `json:"max_principals"`
}

// SecretFinding is a secret the report lists.
type SecretFinding struct {
	Mount       string  `json:"mount"`
	Path        string  `json:"path"`
	LastRead    *string `json:"last_read"`
	UpdatedTime string  `json:"updated_time"`
	// Principals counts the auth principals and entities that can read
	// it (in widely_readable_secrets only).
	Principals int `json:"principals,omitempty"`
}

// TokenFinding is a token the report lists, by accessor.
type TokenFinding struct {
	Accessor     string   `json:"accessor"`
	DisplayName  string   `json:"display_name"`
	Path         string   `json:"path"`
	Policies     []string `json:"policies"`
	CreationTime string   `json:"creation_time"`
}

// PolicyFinding is a policy rule the report lists.
type PolicyFinding struct {
	Policy string `json:"policy"`
	Path   string `json:"path"`
	// Reason is "wildcard" (the rule matches every path) or "sudo".
	Reason string `json:"reason"`
}

// RoleFinding is an auth principal the report lists.
type RoleFinding struct {
	Mount string `json:"mount"`
	Type  string `json:"type"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
	// UnlimitedSecretIDs counts an AppRole role's live secret IDs with
	// neither a TTL nor a use limit, when the method counts them.
	UnlimitedSecretIDs int `json:"unlimited_secret_ids,omitempty"`
}

// ReportAnswer is sys/access/report's answer.
type ReportAnswer struct {
	GeneratedAt           string          `json:"generated_at"`
	Parameters            ReportParams    `json:"parameters"`
	UnreadSecrets         []SecretFinding `json:"unread_secrets"`
	UnrotatedSecrets      []SecretFinding `json:"unrotated_secrets"`
	WidelyReadableSecrets []SecretFinding `json:"widely_readable_secrets"`
	// SecretsTruncated says the walk stopped after maxReportSecrets.
	SecretsTruncated       bool            `json:"secrets_truncated"`
	TokensWithoutExpiry    []TokenFinding  `json:"tokens_without_expiry"`
	RootTokens             []TokenFinding  `json:"root_tokens"`
	UnusedPolicies         []string        `json:"unused_policies"`
	BroadPolicies          []PolicyFinding `json:"broad_policies"`
	UnlimitedSecretIDRoles []RoleFinding   `json:"unlimited_secret_id_roles"`
	UnboundRoles           []RoleFinding   `json:"unbound_roles"`
}

func reportParams(req *logical.Request) (ReportParams, error) {
	var p ReportParams
	for _, f := range []struct {
		name string
		dst  *int
		def  int
	}{
		{"unread_days", &p.UnreadDays, defaultUnreadDays},
		{"unrotated_days", &p.UnrotatedDays, defaultUnrotatedDays},
		{"max_principals", &p.MaxPrincipals, defaultMaxPrincipals},
	} {
		n, err := framework.QueryInt(req, f.name, f.def)
		if err != nil {
			return p, err
		}
		if n > maxReportDays {
			return p, logical.InvalidRequest("%s must be at most %d", f.name, maxReportDays)
		}
		*f.dst = n
	}
	return p, nil
}

func (a *API) report(ctx context.Context, req *logical.Request, _ *framework.Match) (*logical.Response, error) {
	p, err := reportParams(req)
	if err != nil {
		return nil, err
	}
	dir, err := a.directory(ctx, true)
	if err != nil {
		return nil, err
	}
	pols, idx := a.snapshot()
	ans, err := Report(ctx, ReportInput{Params: p, Policies: pols, Index: idx, Directory: dir, Mounts: a.opts.Core.SecretMounts(), Now: a.now()})
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: ans}, nil
}

// ReportInput is what [Report] reads.
type ReportInput struct {
	Params    ReportParams
	Policies  []*policy.Policy
	Index     *access.Index
	Directory *access.Directory
	Mounts    []Mount
	Now       time.Time
}

// Report builds the hygiene and compliance report.
func Report(ctx context.Context, in ReportInput) (*ReportAnswer, error) {
	dir := in.Directory
	out := &ReportAnswer{
		GeneratedAt: in.Now.Format(time.RFC3339), Parameters: in.Params,
		UnreadSecrets: []SecretFinding{}, UnrotatedSecrets: []SecretFinding{}, WidelyReadableSecrets: []SecretFinding{},
		TokensWithoutExpiry: []TokenFinding{}, RootTokens: []TokenFinding{}, UnusedPolicies: []string{},
		BroadPolicies: []PolicyFinding{}, UnlimitedSecretIDRoles: []RoleFinding{}, UnboundRoles: []RoleFinding{},
	}
	used := map[string]bool{}
	for _, m := range dir.Mounts {
		for _, p := range m.Principals {
			markUsed(used, p.Policies)
			rf := RoleFinding{Mount: m.Path, Type: m.Type, Kind: p.Kind, Name: p.Name}
			if p.Unbound {
				out.UnboundRoles = append(out.UnboundRoles, rf)
			}
			if m.Type != "approle" {
				continue
			}
			if n, ok := p.Counts["secret_ids_unlimited"]; ok {
				// The method counted the secret IDs that have neither a
				// TTL nor a use limit.
				if n > 0 {
					rf.UnlimitedSecretIDs = n
					out.UnlimitedSecretIDRoles = append(out.UnlimitedSecretIDRoles, rf)
				}
			} else if zeroBinding(p.Bindings["secret_id_ttl"]) && zeroBinding(p.Bindings["secret_id_num_uses"]) {
				// Only the role's configuration is known: the secret IDs it
				// issues get neither limit.
				out.UnlimitedSecretIDRoles = append(out.UnlimitedSecretIDRoles, rf)
			}
		}
	}
	for _, e := range dir.Entities {
		markUsed(used, e.Policies, e.IdentityPolicies)
	}
	for _, g := range dir.Groups {
		markUsed(used, g.Policies)
	}
	if dir.Tokens != nil {
		dir.Tokens.Each(func(t *access.Token) bool {
			markUsed(used, t.Policies)
			tf := TokenFinding{Accessor: t.Accessor, DisplayName: t.DisplayName, Path: t.Path, Policies: nonNil(t.Policies), CreationTime: t.CreationTime.UTC().Format(time.RFC3339)}
			if slices.Contains(t.Policies, policy.RootPolicyName) {
				out.RootTokens = append(out.RootTokens, tf)
			}
			if t.ExpireTime.IsZero() {
				out.TokensWithoutExpiry = append(out.TokensWithoutExpiry, tf)
			}
			return true
		})
	}
	for _, list := range [][]TokenFinding{out.RootTokens, out.TokensWithoutExpiry} {
		slices.SortFunc(list, func(p, q TokenFinding) int { return strings.Compare(p.Accessor, q.Accessor) })
	}
	for _, p := range in.Policies {
		if p.Name == policy.RootPolicyName {
			continue
		}
		if !used[p.Name] {
			out.UnusedPolicies = append(out.UnusedPolicies, p.Name)
		}
		for _, r := range p.Rules {
			if r.Capabilities&policy.CapDeny != 0 {
				continue
			}
			if strings.Trim(r.Path, "+/*") == "" && r.Capabilities != 0 {
				out.BroadPolicies = append(out.BroadPolicies, PolicyFinding{Policy: p.Name, Path: r.Path, Reason: "wildcard"})
			}
			if r.Capabilities&policy.CapSudo != 0 {
				out.BroadPolicies = append(out.BroadPolicies, PolicyFinding{Policy: p.Name, Path: r.Path, Reason: "sudo"})
			}
		}
	}
	slices.Sort(out.UnusedPolicies)
	if err := reportSecrets(ctx, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// reportSecrets walks the secrets of every mount that lists them.
func reportSecrets(ctx context.Context, in ReportInput, out *ReportAnswer) error {
	day := 24 * time.Hour
	unread := in.Now.Add(-time.Duration(in.Params.UnreadDays) * day)
	unrotated := in.Now.Add(-time.Duration(in.Params.UnrotatedDays) * day)
	walked := 0
	ids, byName := access.NewIdentities(in.Directory), byName(in.Policies)
	for _, m := range in.Mounts {
		w, ok := m.Backend.(logical.SecretWalker)
		if !ok {
			continue
		}
		err := w.WalkSecrets(ctx, "", func(si logical.SecretInfo) (bool, error) {
			if walked >= maxReportSecrets {
				out.SecretsTruncated = true
				return false, nil
			}
			walked++
			f := SecretFinding{Mount: m.Path, Path: si.Path, UpdatedTime: si.UpdatedTime.UTC().Format(time.RFC3339)}
			readRef := si.CreatedTime
			if !si.LastRead.IsZero() {
				s := si.LastRead.UTC().Format(time.RFC3339)
				f.LastRead, readRef = &s, si.LastRead
			}
			if readRef.Before(unread) {
				out.UnreadSecrets = append(out.UnreadSecrets, f)
			}
			if si.UpdatedTime.Before(unrotated) {
				out.UnrotatedSecrets = append(out.UnrotatedSecrets, f)
			}
			if n := readers(in, ids, byName, m.Path+"data/"+si.Path); n > in.Params.MaxPrincipals {
				f.Principals = n
				out.WidelyReadableSecrets = append(out.WidelyReadableSecrets, f)
			}
			return true, ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("walk the secrets of %s: %w", m.Path, err)
		}
	}
	return nil
}

// readers counts the auth principals and entities that can read path
// (an entity's templated policies resolved for it).
func readers(in ReportInput, ids *access.Identities, pols map[string]*policy.Policy, path string) int {
	dir := in.Directory
	ans := in.Index.Who(path, policy.CapRead)
	ans.Templated = templatedFor(ans.Templated, pols, ans.Path)
	d := newDecider(ans, pols, ids)
	n := 0
	can := func(v verdict) bool { return v.Access == AccessYes || v.Access == AccessConditional }
	for _, m := range dir.Mounts {
		for _, p := range m.Principals {
			if can(d.decide(p.Policies)) {
				n++
			}
		}
	}
	for i := range dir.Entities {
		e := &dir.Entities[i]
		if can(disabled(d.decideFor(e.ID, e.IdentityPolicies), e)) {
			n++
		}
	}
	return n
}

func markUsed(used map[string]bool, lists ...[]string) {
	for _, l := range lists {
		for _, n := range l {
			used[n] = true
		}
	}
}

// zeroBinding reports whether a binding value sets no limit: absent,
// zero, empty or "0s".
func zeroBinding(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case time.Duration:
		return x == 0
	case string:
		d, ok := framework.ParseDuration(x)
		return x == "" || (ok && d == 0)
	}
	return false
}
