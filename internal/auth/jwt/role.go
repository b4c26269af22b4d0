package jwt

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Role types and bound claim types.
const (
	roleTypeJWT     = "jwt"
	roleTypeOIDC    = "oidc"
	claimTypeString = "string"
	claimTypeGlob   = "glob"
)

// Metadata keys the method sets itself; claim_mappings may not target them.
const (
	metaRole   = "role"
	metaGroups = "groups"
)

// role is one stored role.
type role struct {
	RoleType             string                     `json:"role_type"`
	BoundAudiences       []string                   `json:"bound_audiences,omitempty"`
	BoundSubject         string                     `json:"bound_subject,omitempty"`
	BoundClaims          map[string]json.RawMessage `json:"bound_claims,omitempty"`
	BoundClaimsType      string                     `json:"bound_claims_type"`
	ClaimMappings        map[string]string          `json:"claim_mappings,omitempty"`
	UserClaim            string                     `json:"user_claim"`
	UserClaimJSONPointer bool                       `json:"user_claim_json_pointer,omitempty"`
	GroupsClaim          string                     `json:"groups_claim,omitempty"`
	ClockSkewLeeway      time.Duration              `json:"clock_skew_leeway_ns"`
	ExpirationLeeway     time.Duration              `json:"expiration_leeway_ns"`
	NotBeforeLeeway      time.Duration              `json:"not_before_leeway_ns"`
	VerboseOIDCLogging   bool                       `json:"verbose_oidc_logging,omitempty"`
	Token                framework.TokenParams      `json:"token"`
}

// roleInput is the body of a role write: a new role gets defaults for what
// is absent; for an existing role only the fields present change.
type roleInput struct {
	RoleType             *string                     `json:"role_type"`
	BoundAudiences       *framework.CommaStrings     `json:"bound_audiences"`
	BoundSubject         *string                     `json:"bound_subject"`
	BoundClaims          *map[string]json.RawMessage `json:"bound_claims"`
	BoundClaimsType      *string                     `json:"bound_claims_type"`
	ClaimMappings        *map[string]string          `json:"claim_mappings"`
	UserClaim            *string                     `json:"user_claim"`
	UserClaimJSONPointer *framework.Bool             `json:"user_claim_json_pointer"`
	GroupsClaim          *string                     `json:"groups_claim"`
	ClockSkewLeeway      *leeway                     `json:"clock_skew_leeway"`
	ExpirationLeeway     *leeway                     `json:"expiration_leeway"`
	NotBeforeLeeway      *leeway                     `json:"not_before_leeway"`
	VerboseOIDCLogging   *framework.Bool             `json:"verbose_oidc_logging"`
	framework.TokenParamsUpdate
}

// roleResponse is the data of a role read. Leeways are whole seconds, -1
// when disabled.
type roleResponse struct {
	RoleType             string                     `json:"role_type"`
	BoundAudiences       []string                   `json:"bound_audiences"`
	BoundSubject         string                     `json:"bound_subject"`
	BoundClaims          map[string]json.RawMessage `json:"bound_claims"`
	BoundClaimsType      string                     `json:"bound_claims_type"`
	ClaimMappings        map[string]string          `json:"claim_mappings"`
	UserClaim            string                     `json:"user_claim"`
	UserClaimJSONPointer bool                       `json:"user_claim_json_pointer"`
	GroupsClaim          string                     `json:"groups_claim"`
	ClockSkewLeeway      int64                      `json:"clock_skew_leeway"`
	ExpirationLeeway     int64                      `json:"expiration_leeway"`
	NotBeforeLeeway      int64                      `json:"not_before_leeway"`
	VerboseOIDCLogging   bool                       `json:"verbose_oidc_logging"`
	framework.TokenParamsResponse
}

// response is the data of a read of r.
func (r *role) response() any {
	claims := maps.Clone(r.BoundClaims)
	if claims == nil {
		claims = map[string]json.RawMessage{}
	}
	mappings := maps.Clone(r.ClaimMappings)
	if mappings == nil {
		mappings = map[string]string{}
	}
	return &roleResponse{
		RoleType:             r.RoleType,
		BoundAudiences:       nonNil(r.BoundAudiences),
		BoundSubject:         r.BoundSubject,
		BoundClaims:          claims,
		BoundClaimsType:      r.BoundClaimsType,
		ClaimMappings:        mappings,
		UserClaim:            r.UserClaim,
		UserClaimJSONPointer: r.UserClaimJSONPointer,
		GroupsClaim:          r.GroupsClaim,
		ClockSkewLeeway:      leewaySeconds(r.ClockSkewLeeway),
		ExpirationLeeway:     leewaySeconds(r.ExpirationLeeway),
		NotBeforeLeeway:      leewaySeconds(r.NotBeforeLeeway),
		VerboseOIDCLogging:   r.VerboseOIDCLogging,
		TokenParamsResponse:  r.Token.Response(),
	}
}

// leewaySeconds reports a stored leeway in whole seconds, -1 when disabled.
func leewaySeconds(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return framework.Seconds(d)
}

// writeRole creates a role or changes the given fields of an existing one.
func (b *backend) writeRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	defer b.roles.Hold(name)()
	old, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	r := role{
		RoleType:         roleTypeJWT,
		BoundClaimsType:  claimTypeString,
		UserClaim:        "sub",
		ClockSkewLeeway:  defaultClockSkewLeeway,
		ExpirationLeeway: defaultExpirationLeeway,
		NotBeforeLeeway:  defaultNotBeforeLeeway,
	}
	if old != nil {
		r = *old
	}
	if err := in.apply(&r); err != nil {
		return nil, err
	}
	return nil, b.roles.Put(ctx, name, &r)
}

// apply changes r by the fields present in in and validates the result.
func (in *roleInput) apply(r *role) error {
	if in.RoleType != nil {
		switch t := strings.ToLower(strings.TrimSpace(*in.RoleType)); t {
		case roleTypeJWT, "":
			r.RoleType = roleTypeJWT
		case roleTypeOIDC:
			return logical.InvalidRequest("role_type \"oidc\" is not supported: Coffer does not do browser-based OIDC login; use role_type \"jwt\" and log in with a signed JWT")
		default:
			return logical.InvalidRequest("invalid value for \"role_type\": want \"jwt\"")
		}
	}
	if in.BoundAudiences != nil {
		r.BoundAudiences = trimmed(*in.BoundAudiences)
	}
	if in.BoundSubject != nil {
		r.BoundSubject = strings.TrimSpace(*in.BoundSubject)
	}
	if in.BoundClaimsType != nil {
		switch t := strings.ToLower(strings.TrimSpace(*in.BoundClaimsType)); t {
		case claimTypeString, "":
			r.BoundClaimsType = claimTypeString
		case claimTypeGlob:
			r.BoundClaimsType = claimTypeGlob
		default:
			return logical.InvalidRequest("invalid value for \"bound_claims_type\": want \"string\" or \"glob\"")
		}
	}
	if in.BoundClaims != nil {
		r.BoundClaims = maps.Clone(*in.BoundClaims)
		for k, v := range r.BoundClaims {
			if strings.TrimSpace(k) == "" {
				return logical.InvalidRequest("invalid value for \"bound_claims\": claim names must not be empty")
			}
			if _, err := boundValues(v); err != nil {
				return logical.InvalidRequest("invalid value for \"bound_claims\": claim %q: %v", truncate(k, 100), err)
			}
		}
		if len(r.BoundClaims) == 0 {
			r.BoundClaims = nil
		}
	}
	if in.ClaimMappings != nil {
		r.ClaimMappings = maps.Clone(*in.ClaimMappings)
		targets := map[string]bool{}
		for _, k := range slices.Sorted(maps.Keys(r.ClaimMappings)) {
			v := strings.TrimSpace(r.ClaimMappings[k])
			switch {
			case k == "" || v == "":
				return logical.InvalidRequest("invalid value for \"claim_mappings\": claim names and metadata keys must not be empty")
			case v == metaRole || v == metaGroups:
				return logical.InvalidRequest("invalid value for \"claim_mappings\": metadata key %q is reserved", v)
			case targets[v]:
				return logical.InvalidRequest("invalid value for \"claim_mappings\": metadata key %q is the target of more than one claim", truncate(v, 100))
			}
			targets[v] = true
			r.ClaimMappings[k] = v
		}
		if len(r.ClaimMappings) == 0 {
			r.ClaimMappings = nil
		}
	}
	if in.UserClaim != nil {
		r.UserClaim = strings.TrimSpace(*in.UserClaim)
		if r.UserClaim == "" {
			r.UserClaim = "sub"
		}
	}
	if in.UserClaimJSONPointer != nil {
		r.UserClaimJSONPointer = bool(*in.UserClaimJSONPointer)
	}
	if in.GroupsClaim != nil {
		r.GroupsClaim = strings.TrimSpace(*in.GroupsClaim)
	}
	if in.ClockSkewLeeway != nil {
		r.ClockSkewLeeway = in.ClockSkewLeeway.normalize(defaultClockSkewLeeway)
	}
	if in.ExpirationLeeway != nil {
		r.ExpirationLeeway = in.ExpirationLeeway.normalize(defaultExpirationLeeway)
	}
	if in.NotBeforeLeeway != nil {
		r.NotBeforeLeeway = in.NotBeforeLeeway.normalize(defaultNotBeforeLeeway)
	}
	if in.VerboseOIDCLogging != nil {
		r.VerboseOIDCLogging = bool(*in.VerboseOIDCLogging)
	}
	var err error
	if r.Token, err = in.Apply(r.Token); err != nil {
		return err
	}
	if len(r.BoundAudiences) == 0 && r.BoundSubject == "" && len(r.BoundClaims) == 0 && len(r.Token.BoundCIDRs) == 0 {
		return logical.InvalidRequest("a role must have at least one bound constraint: \"bound_audiences\", \"bound_subject\", \"bound_claims\" or \"token_bound_cidrs\"")
	}
	return nil
}

// boundValues returns the accepted values of one bound claim: a string,
// number or boolean, or a non-empty list of them (any of which may
// match).
func boundValues(raw json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON")
	}
	out, ok := claimStrings(v)
	if !ok || len(out) == 0 {
		return nil, fmt.Errorf("want a string, number or boolean, or a non-empty list of them")
	}
	return out, nil
}

// trimmed returns list with each entry trimmed and empty entries dropped.
func trimmed(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
