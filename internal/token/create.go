package token

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds the rules for a new token: which policies it may carry,
// what a token role imposes, how its TTL is settled. They are pure
// functions of their arguments (no storage, no clock), so every rule is
// table-tested on its own; the auth/token/ API and core's login path call
// them and store the result with [Store.Create].

// ErrInvalidRequest marks a creation request the rules refuse. The error's
// message says which rule and is safe to show the client; match the kind
// with errors.Is.
var ErrInvalidRequest = errors.New("invalid token request")

// requestError is a refusal by a creation rule.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

func (e *requestError) Is(target error) bool { return target == ErrInvalidRequest }

func refuse(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// defaultPolicy is the policy every token gets unless asked not to; it is
// policy.DefaultPolicyName, spelled here so that token does not pull in
// the policy parser.
const defaultPolicy = "default"

// rootPolicy is the policy of root tokens.
const rootPolicy = "root"

// CreateRequest is a request for a new token through auth/token/create,
// create-orphan or create/ROLE, as the client sent it.
type CreateRequest struct {
	// ID is a token ID the caller chose; "" lets the store make one.
	ID string
	// Policies are the policies asked for; empty means the parent's (or
	// the role's allowed policies).
	Policies []string
	// Meta is free-form metadata kept with the token.
	Meta map[string]string
	// NoParent asks auth/token/create for an orphan (root or sudo only).
	NoParent bool
	// Orphan is set when the endpoint itself makes orphans
	// (create-orphan).
	Orphan bool
	// NoDefaultPolicy leaves the "default" policy off.
	NoDefaultPolicy bool
	// Renewable, when not nil, says whether the token may be renewed.
	Renewable *bool
	// TTL is the initial lifetime; zero means Lease, then the default.
	TTL time.Duration
	// Lease is Vault's older name for TTL.
	Lease time.Duration
	// ExplicitMaxTTL is a hard cap on the token's life.
	ExplicitMaxTTL time.Duration
	// Period makes the token periodic.
	Period time.Duration
	// DisplayName becomes "token-<name>".
	DisplayName string
	// NumUses limits the token to that many requests; 0 is unlimited.
	NumUses int
	// Type is "service", "batch", one of the "default" forms or "".
	Type string
	// EntityAlias asks for the token to be tied to an entity alias (not
	// supported: refused when set).
	EntityAlias string
}

// Parent is the token that asks for a new one.
type Parent struct {
	// Entry is the calling token; it must not be nil.
	Entry *Entry
	// Hash is the calling token's hash; "" for a batch token.
	Hash string
	// Sudo says whether the caller holds sudo on the request path.
	Sudo bool
}

// Role is a token role (auth/token/roles/NAME) as the rules see it.
type Role struct {
	// Name is the role's name, lowercase.
	Name string
	// AllowedPolicies, when not empty, are the only policies (besides
	// "default") a token of the role may have; they are also its
	// policies when the request names none.
	AllowedPolicies []string
	// DisallowedPolicies are policies a token of the role may never have.
	DisallowedPolicies []string
	// Orphan makes the role's tokens orphans.
	Orphan bool
	// Renewable false makes the role's tokens not renewable.
	Renewable bool
	// PathSuffix is appended to the token's creation path.
	PathSuffix string
	// TTL is the role's default TTL, used when the request gives none.
	TTL time.Duration
	// MaxTTL caps renewals; zero leaves the mount's maximum.
	MaxTTL time.Duration
	// ExplicitMaxTTL, when set, caps the request's explicit max TTL.
	ExplicitMaxTTL time.Duration
	// Period, when set, replaces the request's period.
	Period time.Duration
	// NumUses, when set, caps the request's number of uses.
	NumUses int
	// Type is the token type when the request gives none.
	Type string
	// BoundCIDRs restrict where the role's tokens may be used from.
	BoundCIDRs []string
	// NoDefaultPolicy leaves the "default" policy off the role's tokens.
	NoDefaultPolicy bool
}

// Limits are what the rules need to know besides the request.
type Limits struct {
	// DefaultTTL and MaxTTL are the auth/token/ mount's TTL settings.
	DefaultTTL, MaxTTL time.Duration
	// Now is the current time, for capping a child at its parent's expiry.
	Now time.Time
	// PolicyExists reports whether an ACL policy of that name exists; it
	// must not be nil.
	PolicyExists func(name string) bool
}

// Plan applies the creation rules to req from parent, with role when the
// request names one (nil otherwise), and returns the entry to store with
// [Store.Create] under req.ID. Without root, a child's policies must be
// held by its parent (or allowed by the role), naming an ID or asking
// for an orphan needs sudo, and a child never outlives its parent. A
// refusal is an [ErrInvalidRequest] error; req is not modified.
func Plan(req CreateRequest, parent Parent, role *Role, lim Limits) (*Entry, error) {
	orphan := req.Orphan || req.NoParent
	if role != nil {
		orphan = role.Orphan
	}
	if err := checkCaller(req, parent, role, orphan); err != nil {
		return nil, err
	}
	policies, err := requestedPolicies(req.Policies, lim.PolicyExists)
	if err != nil {
		return nil, err
	}
	e, err := baseEntry(req)
	if err != nil {
		return nil, err
	}
	noDefault := req.NoDefaultPolicy
	switch {
	case role != nil:
		if policies, err = applyRole(e, policies, role); err != nil {
			return nil, err
		}
		noDefault = noDefault || role.NoDefaultPolicy
	default:
		if policies, err = childPolicies(policies, parent.Entry); err != nil {
			return nil, err
		}
	}
	if slices.Contains(policies, rootPolicy) && !parent.Entry.IsRoot() {
		return nil, refuse("root tokens may not be created without parent token being root")
	}
	e.Policies = Policies(policies, noDefault)
	if !orphan {
		e.Parent = parent.Hash
	}
	if req.EntityAlias != "" {
		return nil, refuse("entity_alias is not supported yet")
	}
	if err := ApplyTTLs(e, lim.DefaultTTL, lim.MaxTTL); err != nil {
		return nil, err
	}
	capToParent(e, parent.Entry, lim.Now)
	return e, nil
}

// checkCaller checks what only some callers may ask for: a batch token
// makes only orphans, and without root an ID or (on auth/token/create) an
// orphan needs sudo.
func checkCaller(req CreateRequest, parent Parent, role *Role, orphan bool) error {
	privileged := parent.Entry.IsRoot() || parent.Sudo
	if parent.Entry.Type == TypeBatch && !orphan {
		return refuse("batch tokens cannot create child tokens")
	}
	if req.ID != "" && !privileged {
		return refuse("root or sudo privileges required to specify token id")
	}
	// As in Vault, create-orphan is governed by the ACL on its own path;
	// asking auth/token/create for no_parent needs root or sudo there.
	if role == nil && req.NoParent && !privileged {
		return refuse("root or sudo privileges required to create orphan token")
	}
	return nil
}

// requestedPolicies returns the request's policy names trimmed and
// lowercased, refusing an empty name or a policy that does not exist.
func requestedPolicies(in []string, exists func(string) bool) ([]string, error) {
	out := slices.Clone(in)
	for i, p := range out {
		out[i] = strings.ToLower(strings.TrimSpace(p))
	}
	for _, p := range out {
		if p == "" {
			return nil, refuse("empty policy name")
		}
		if !exists(p) {
			return nil, refuse("policy %q does not exist", p)
		}
	}
	return out, nil
}

// baseEntry returns the entry the request asks for before any role,
// parent or mount limit applies.
func baseEntry(req CreateRequest) (*Entry, error) {
	if req.NumUses < 0 {
		return nil, refuse("num_uses must not be negative")
	}
	e := &Entry{
		Meta:           req.Meta,
		DisplayName:    DisplayName(req.DisplayName),
		Path:           "auth/token/create",
		TTL:            req.TTL,
		ExplicitMaxTTL: req.ExplicitMaxTTL,
		Period:         req.Period,
		NumUses:        req.NumUses,
		Renewable:      true,
		Type:           strings.ToLower(req.Type),
	}
	if e.TTL == 0 {
		e.TTL = req.Lease
	}
	if req.Renewable != nil {
		e.Renewable = *req.Renewable
	}
	return e, nil
}

// applyRole imposes role on e and returns the token's policies: the
// requested ones (or the role's allowed ones when none were asked for),
// none disallowed and, when the role lists allowed policies, each among
// them or "default". The role's period replaces the request's; its
// explicit max TTL and number of uses cap the request's; its TTL is the
// default; its max TTL, bound CIDRs and type (when none was asked for)
// apply.
func applyRole(e *Entry, policies []string, role *Role) ([]string, error) {
	e.Path = "auth/token/create/" + role.Name
	if role.PathSuffix != "" {
		e.Path += "/" + role.PathSuffix
	}
	e.Role = role.Name
	if !role.Renewable {
		e.Renewable = false
	}
	if len(policies) == 0 {
		policies = slices.Clone(role.AllowedPolicies)
	}
	for _, p := range policies {
		if slices.Contains(role.DisallowedPolicies, p) {
			return nil, refuse("policy %q is disallowed by the role", p)
		}
		if len(role.AllowedPolicies) > 0 && !slices.Contains(role.AllowedPolicies, p) && p != defaultPolicy {
			return nil, refuse("policy %q is not allowed by the role", p)
		}
	}
	if role.Period > 0 {
		e.Period = role.Period
	}
	if role.ExplicitMaxTTL > 0 && (e.ExplicitMaxTTL == 0 || role.ExplicitMaxTTL < e.ExplicitMaxTTL) {
		e.ExplicitMaxTTL = role.ExplicitMaxTTL
	}
	if e.TTL == 0 {
		e.TTL = role.TTL
	}
	if role.MaxTTL > 0 {
		e.MaxTTL = role.MaxTTL
	}
	if role.NumUses > 0 && (e.NumUses == 0 || role.NumUses < e.NumUses) {
		e.NumUses = role.NumUses
	}
	if role.Type != "" && e.Type == "" {
		e.Type = role.Type
	}
	e.BoundCIDRs = slices.Clone(role.BoundCIDRs)
	return policies, nil
}

// childPolicies returns the policies of a token made without a role. A
// root parent may grant anything and passes its own policies on when none
// are asked for. Any other parent passes on its policies (but "default")
// when none are asked for, and may grant only policies it holds, besides
// "default".
func childPolicies(policies []string, parent *Entry) ([]string, error) {
	if parent.IsRoot() {
		if len(policies) == 0 {
			return slices.Clone(parent.Policies), nil
		}
		return policies, nil
	}
	if len(policies) == 0 {
		policies = slices.DeleteFunc(slices.Clone(parent.Policies), func(p string) bool { return p == defaultPolicy })
	}
	for _, p := range policies {
		if p != defaultPolicy && !slices.Contains(parent.Policies, p) {
			return nil, refuse("child policies must be subset of parent: %q is not held by the calling token", p)
		}
	}
	return policies, nil
}

// Policies returns the sorted, deduplicated policies of a new token, with
// "default" unless noDefault; a root token keeps only "root". in is not
// modified.
func Policies(in []string, noDefault bool) []string {
	out := slices.Clone(in)
	if slices.Contains(out, rootPolicy) {
		return []string{rootPolicy}
	}
	if !noDefault {
		out = append(out, defaultPolicy)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ApplyTTLs settles a new token's type and TTL within a mount's limits:
// the type's "default" forms become service or batch; a batch token is
// never renewable, periodic or limited in uses; a periodic token lives
// for its period; any other gets its TTL (or defaultTTL), capped by its
// max TTL, which is itself capped by maxTTL; an explicit max TTL caps
// them all. A refusal is an [ErrInvalidRequest] error.
func ApplyTTLs(e *Entry, defaultTTL, maxTTL time.Duration) error {
	switch e.Type {
	case "", "default", "default-service":
		e.Type = TypeService
	case "default-batch":
		e.Type = TypeBatch
	}
	if e.Type != TypeService && e.Type != TypeBatch {
		return refuse("invalid token type %q: want service or batch", e.Type)
	}
	if e.Type == TypeBatch {
		if e.Period > 0 || e.NumUses > 0 {
			return refuse("batch tokens cannot be periodic or have limited uses")
		}
		e.Renewable = false
	}
	if e.Period > 0 {
		e.TTL = e.Period
		e.MaxTTL = 0
	} else {
		if e.TTL <= 0 {
			e.TTL = defaultTTL
		}
		if e.MaxTTL <= 0 || e.MaxTTL > maxTTL {
			e.MaxTTL = maxTTL
		}
		if e.TTL > e.MaxTTL {
			e.TTL = e.MaxTTL
		}
	}
	if e.ExplicitMaxTTL > 0 && e.TTL > e.ExplicitMaxTTL {
		e.TTL = e.ExplicitMaxTTL
	}
	return nil
}

// capToParent shortens the TTL of e so that a child never outlives its
// parent's current expiry. Root parents, parents that do not expire and
// periodic children are left alone.
func capToParent(e *Entry, parent *Entry, now time.Time) {
	if parent.IsRoot() || parent.TTL <= 0 || e.Period != 0 {
		return
	}
	if left := parent.ExpireTime().Sub(now); left > 0 && e.TTL > left {
		e.TTL = left
	}
}

// DisplayName makes Vault's "token-<name>" display name of a token made
// through auth/token/: lowercase, "token" when name is empty, and not
// prefixed twice.
func DisplayName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return "token"
	}
	name = strings.ToLower(name)
	if strings.HasPrefix(name, "token-") || name == "token" {
		return name
	}
	return "token-" + name
}
