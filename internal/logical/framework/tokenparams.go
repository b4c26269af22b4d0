package framework

import (
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// The token types an auth method role may ask for. "default" (or empty)
// leaves the choice to the mount; "default-service" and "default-batch"
// are accepted for compatibility with Vault and mean "service" and "batch".
const (
	TokenTypeDefault        = "default"
	TokenTypeService        = "service"
	TokenTypeBatch          = "batch"
	TokenTypeDefaultService = "default-service"
	TokenTypeDefaultBatch   = "default-batch"
)

// maxTokenNumUses bounds token_num_uses so that it fits an int everywhere.
const maxTokenNumUses = math.MaxInt32

// TokenParams are the settings an auth method role (or user) gives the
// tokens its logins create: Vault's token_* fields. It is the stored form;
// its JSON members carry the API names, so a complete set of parameters
// decodes straight into it. Requests that change only some fields use
// [TokenParamsUpdate]; reads answer with [TokenParams.Response].
//
// The zero value is valid and means "the mount's defaults for everything".
type TokenParams struct {
	// Policies are the token's policies, lowercased, without duplicates.
	Policies CommaStrings `json:"token_policies,omitempty"`
	// TTL is the token's initial lifetime; 0 means the mount's default.
	TTL Duration `json:"token_ttl,omitempty"`
	// MaxTTL caps the token's lifetime across renewals; 0 means the
	// mount's maximum.
	MaxTTL Duration `json:"token_max_ttl,omitempty"`
	// ExplicitMaxTTL is a hard cap no renewal or period can pass.
	ExplicitMaxTTL Duration `json:"token_explicit_max_ttl,omitempty"`
	// Period, when set, makes the token periodic.
	Period Duration `json:"token_period,omitempty"`
	// NumUses limits the token to that many requests; 0 is unlimited.
	NumUses Int `json:"token_num_uses,omitempty"`
	// Type is one of the TokenType* constants, or "" for the default.
	Type string `json:"token_type,omitempty"`
	// BoundCIDRs are IP addresses or CIDR blocks; when set, logins and the
	// token's later use must come from one of them.
	BoundCIDRs CommaStrings `json:"token_bound_cidrs,omitempty"`
	// NoDefaultPolicy leaves the "default" policy off the token.
	NoDefaultPolicy Bool `json:"token_no_default_policy,omitempty"`
}

// TokenParamsUpdate is the token_* part of a role or user write: only the
// fields present in the request (non-nil) change. Embed it in a handler's
// input struct; its members are decoded like the struct's own. Policies is
// Vault's deprecated name for TokenPolicies and is used only when
// token_policies is absent.
type TokenParamsUpdate struct {
	TokenPolicies        *CommaStrings `json:"token_policies"`
	Policies             *CommaStrings `json:"policies"`
	TokenTTL             *Duration     `json:"token_ttl"`
	TokenMaxTTL          *Duration     `json:"token_max_ttl"`
	TokenExplicitMaxTTL  *Duration     `json:"token_explicit_max_ttl"`
	TokenPeriod          *Duration     `json:"token_period"`
	TokenNumUses         *Int          `json:"token_num_uses"`
	TokenType            *string       `json:"token_type"`
	TokenBoundCIDRs      *CommaStrings `json:"token_bound_cidrs"`
	TokenNoDefaultPolicy *Bool         `json:"token_no_default_policy"`
	// Vault's other deprecated names for token_* fields. They are not
	// honored here, and ignoring them (as unknown members are ignored)
	// would silently give tokens a longer life, more uses or a wider
	// network reach than the caller asked for, so a value is refused. An
	// input struct that honors one declares its own field of that name,
	// which hides this one.
	TTL        Unsupported `json:"ttl"`
	MaxTTL     Unsupported `json:"max_ttl"`
	Period     Unsupported `json:"period"`
	NumUses    Unsupported `json:"num_uses"`
	BoundCIDRs Unsupported `json:"bound_cidrs"`
}

// Apply returns p with the fields present in u replaced, normalised and
// validated with [TokenParams.Validate]. p is not modified and the result
// shares no slice with p or u. Errors are [logical.ErrInvalidRequest]
// errors naming the field.
func (u *TokenParamsUpdate) Apply(p TokenParams) (TokenParams, error) {
	p.Policies = slices.Clone(p.Policies)
	p.BoundCIDRs = slices.Clone(p.BoundCIDRs)
	switch {
	case u.TokenPolicies != nil:
		p.Policies = normalizePolicies(*u.TokenPolicies)
	case u.Policies != nil:
		p.Policies = normalizePolicies(*u.Policies)
	}
	if u.TokenTTL != nil {
		p.TTL = *u.TokenTTL
	}
	if u.TokenMaxTTL != nil {
		p.MaxTTL = *u.TokenMaxTTL
	}
	if u.TokenExplicitMaxTTL != nil {
		p.ExplicitMaxTTL = *u.TokenExplicitMaxTTL
	}
	if u.TokenPeriod != nil {
		p.Period = *u.TokenPeriod
	}
	if u.TokenNumUses != nil {
		p.NumUses = *u.TokenNumUses
	}
	if u.TokenType != nil {
		p.Type = strings.ToLower(strings.TrimSpace(*u.TokenType))
	}
	if u.TokenBoundCIDRs != nil {
		p.BoundCIDRs = trimAll(*u.TokenBoundCIDRs)
	}
	if u.TokenNoDefaultPolicy != nil {
		p.NoDefaultPolicy = *u.TokenNoDefaultPolicy
	}
	if err := p.Validate(); err != nil {
		return TokenParams{}, err
	}
	return p, nil
}

// Validate checks p and returns an [logical.ErrInvalidRequest] error
// naming the first bad field:
//
//   - token_policies has no empty name and not "root" (no auth method may
//     hand out root tokens);
//   - token_ttl is not greater than token_max_ttl when both are set;
//   - token_num_uses is between 0 and 2^31-1;
//   - token_type is empty or one of the TokenType* constants, and a batch
//     token has neither a period nor a use limit (a batch token cannot
//     track either);
//   - every token_bound_cidrs entry is an IP address or a CIDR block.
func (p *TokenParams) Validate() error {
	for _, pol := range p.Policies {
		switch strings.ToLower(strings.TrimSpace(pol)) {
		case "":
			return logical.InvalidRequest("invalid value for \"token_policies\": policy names must not be empty")
		case "root":
			return logical.InvalidRequest("invalid value for \"token_policies\": an auth method cannot grant the \"root\" policy")
		}
	}
	if p.MaxTTL > 0 && p.TTL > p.MaxTTL {
		return logical.InvalidRequest("\"token_ttl\" must not be greater than \"token_max_ttl\"")
	}
	if p.NumUses < 0 || p.NumUses > maxTokenNumUses {
		return logical.InvalidRequest("invalid value for \"token_num_uses\": want an integer from 0 to %d", maxTokenNumUses)
	}
	switch p.Type {
	case "", TokenTypeDefault, TokenTypeService, TokenTypeDefaultService:
	case TokenTypeBatch, TokenTypeDefaultBatch:
		if p.Period > 0 {
			return logical.InvalidRequest("batch tokens cannot be periodic: unset \"token_period\" or choose another \"token_type\"")
		}
		if p.NumUses > 0 {
			return logical.InvalidRequest("batch tokens cannot have a use limit: unset \"token_num_uses\" or choose another \"token_type\"")
		}
	default:
		return logical.InvalidRequest("invalid value for \"token_type\": want \"service\", \"batch\", \"default\", \"default-service\" or \"default-batch\"")
	}
	return ValidateCIDRs("token_bound_cidrs", p.BoundCIDRs)
}

// PopulateAuth copies p into a: policies, TTLs, period, use limit, token
// type, bound CIDRs and NoDefaultPolicy. Renewable is set for every token
// type but batch. Slices are copied. "default" and "" leave
// a.TokenType empty (the mount decides); "default-service" and
// "default-batch" become "service" and "batch".
func (p *TokenParams) PopulateAuth(a *logical.Auth) {
	a.Policies = slices.Clone([]string(p.Policies))
	a.NoDefaultPolicy = bool(p.NoDefaultPolicy)
	a.TTL = time.Duration(p.TTL)
	a.MaxTTL = time.Duration(p.MaxTTL)
	a.ExplicitMaxTTL = time.Duration(p.ExplicitMaxTTL)
	a.Period = time.Duration(p.Period)
	a.NumUses = int(p.NumUses)
	a.BoundCIDRs = slices.Clone([]string(p.BoundCIDRs))
	switch p.Type {
	case TokenTypeService, TokenTypeDefaultService:
		a.TokenType = TokenTypeService
	case TokenTypeBatch, TokenTypeDefaultBatch:
		a.TokenType = TokenTypeBatch
	default:
		a.TokenType = ""
	}
	a.Renewable = a.TokenType != TokenTypeBatch
}

// TokenParamsResponse is how role and user reads report token parameters,
// as Vault does: durations in whole seconds, lists never null, token_type
// "default" when unset. Embed it in a read response struct to flatten its
// members into the response.
type TokenParamsResponse struct {
	TokenPolicies        []string `json:"token_policies"`
	TokenTTL             int64    `json:"token_ttl"`
	TokenMaxTTL          int64    `json:"token_max_ttl"`
	TokenExplicitMaxTTL  int64    `json:"token_explicit_max_ttl"`
	TokenPeriod          int64    `json:"token_period"`
	TokenNumUses         int64    `json:"token_num_uses"`
	TokenType            string   `json:"token_type"`
	TokenBoundCIDRs      []string `json:"token_bound_cidrs"`
	TokenNoDefaultPolicy bool     `json:"token_no_default_policy"`
}

// Response returns p in the shape of a read response. Slices are copied.
func (p *TokenParams) Response() TokenParamsResponse {
	typ := p.Type
	if typ == "" {
		typ = TokenTypeDefault
	}
	return TokenParamsResponse{
		TokenPolicies:        nonNil(p.Policies),
		TokenTTL:             Seconds(time.Duration(p.TTL)),
		TokenMaxTTL:          Seconds(time.Duration(p.MaxTTL)),
		TokenExplicitMaxTTL:  Seconds(time.Duration(p.ExplicitMaxTTL)),
		TokenPeriod:          Seconds(time.Duration(p.Period)),
		TokenNumUses:         int64(p.NumUses),
		TokenType:            typ,
		TokenBoundCIDRs:      nonNil(p.BoundCIDRs),
		TokenNoDefaultPolicy: bool(p.NoDefaultPolicy),
	}
}

// Seconds returns d in whole seconds, rounded down, as Vault reports
// durations in role reads.
func Seconds(d time.Duration) int64 {
	return int64(d / time.Second)
}

// ValidateCIDRs checks that each entry of list is an IP address or a CIDR
// block, returning an [logical.ErrInvalidRequest] error naming field
// otherwise. An empty list is valid.
func ValidateCIDRs(field string, list []string) error {
	for _, s := range list {
		if _, ok := parsePrefix(s); !ok {
			return logical.InvalidRequest("invalid value for %q: want IP addresses or CIDR blocks", field)
		}
	}
	return nil
}

// CIDRsAllow reports whether ip is inside one of the IP addresses or CIDR
// blocks in list. An empty list allows every address, including an
// unknown (nil) one; a non-empty list refuses a nil ip. Entries that do not
// parse match nothing. IPv4-mapped IPv6 addresses match IPv4 blocks.
func CIDRsAllow(list []string, ip net.IP) bool {
	if len(list) == 0 {
		return true
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	for _, s := range list {
		if p, ok := parsePrefix(s); ok && p.Contains(addr) {
			return true
		}
	}
	return false
}

// CIDRsSubset reports whether every block in sub lies inside some block of
// super. An empty super contains everything. Both lists must have passed
// [ValidateCIDRs]; entries that do not parse make the answer false.
func CIDRsSubset(sub, super []string) bool {
	if len(super) == 0 {
		return true
	}
	for _, s := range sub {
		inner, ok := parsePrefix(s)
		if !ok {
			return false
		}
		inside := false
		for _, t := range super {
			outer, ok := parsePrefix(t)
			if ok && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr()) {
				inside = true
				break
			}
		}
		if !inside {
			return false
		}
	}
	return true
}

// parsePrefix parses an IP address (as a single-address block) or a CIDR
// block, masked, with IPv4-mapped addresses unmapped.
func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, false
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// normalizePolicies trims and lowercases policy names and drops empty
// names and duplicates, keeping the first occurrence's position.
func normalizePolicies(in []string) CommaStrings {
	out := make(CommaStrings, 0, len(in))
	for _, p := range in {
		p = strings.ToLower(strings.TrimSpace(p))
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// trimAll returns in with each entry trimmed of spaces and empty entries
// dropped.
func trimAll(in []string) CommaStrings {
	out := make(CommaStrings, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// nonNil returns a copy of s that is never nil, so that it marshals as [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
