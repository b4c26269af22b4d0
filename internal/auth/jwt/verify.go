package jwt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// maxJWTBytes bounds a submitted token.
const maxJWTBytes = 64 << 10

// Prefixes of refusals, Vault's words: a token that fails signature or
// registered-claim checks is "error validating token: ...", one that
// fails the role's bound_claims "error validating claims: ...".
const (
	tokenPrefix     = "error validating token: "
	signaturePrefix = tokenPrefix + "error verifying token signature: "
	claimsPrefix    = "error validating claims: "
)

// invalid is a refused token ([logical.ErrInvalidCredentials], HTTP 400 as
// in Vault): the message names the failed check and never holds the token.
func invalid(msg string) error {
	return logical.InvalidCredentials(msg, nil)
}

// denied is a refused client ([logical.ErrPermissionDenied], HTTP 403 as in
// Vault): one outside the role's token_bound_cidrs.
func denied(msg string) error {
	return &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "permission denied: " + msg}
}

// rawPayload captures a verified JWT payload as bytes.
type rawPayload []byte

// UnmarshalJSON implements json.Unmarshaler for go-jose's decoder.
func (p *rawPayload) UnmarshalJSON(b []byte) error {
	*p = bytes.Clone(b)
	return nil
}

// verified is what a verified token says.
type verified struct {
	claims map[string]any // every claim; numbers are json.Number
}

// verifyToken checks raw's signature with src's keys under c and returns
// its claims. It checks nothing else; see [checkClaims].
func verifyToken(ctx context.Context, raw string, c *config, src keySource) (*verified, error) {
	if len(raw) > maxJWTBytes {
		return nil, logical.InvalidRequest("jwt is longer than %d bytes", maxJWTBytes)
	}
	tok, err := josejwt.ParseSigned(raw, c.allowedAlgs())
	if err != nil {
		if alg, ok := headerAlg(raw, c.allowedAlgs()); ok {
			return nil, invalid(signaturePrefix + "token signing algorithm " + quote(alg) + " is not allowed: only " + algList(c.allowedAlgs()) + " are accepted")
		}
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "jwt is not a well-formed signed JWT in compact serialization", Err: err}
	}
	if len(tok.Headers) != 1 {
		return nil, logical.InvalidRequest("jwt must carry exactly one signature")
	}
	h := tok.Headers[0]
	keys, err := src.keys(ctx, h.KeyID)
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "the keys to verify the token with could not be fetched", Err: err}
	}
	var payload rawPayload
	tried := false
	for _, k := range keys {
		if !keyFits(h.Algorithm, k.Key) || k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		tried = true
		if err := tok.Claims(k.Key, &payload); err == nil {
			break
		}
		payload = nil
	}
	switch {
	case !tried && h.KeyID != "":
		return nil, invalid(signaturePrefix + "no configured key has the token's key ID (kid) and algorithm")
	case !tried:
		return nil, invalid(signaturePrefix + "no configured key fits the token's signing algorithm")
	case payload == nil:
		return nil, invalid(signaturePrefix + "token signature is not valid for any configured key")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, invalid(tokenPrefix + "token claims are not a JSON object")
	}
	return &verified{claims: claims}, nil
}

// headerAlg returns the "alg" of raw's protected header when it is
// readable and not in allowed, so that the refusal can name it. ok is false
// otherwise.
func headerAlg(raw string, allowed []jose.SignatureAlgorithm) (string, bool) {
	head, _, found := strings.Cut(raw, ".")
	if !found {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return "", false
	}
	var h struct {
		Alg *string `json:"alg"`
	}
	if err := json.Unmarshal(b, &h); err != nil || h.Alg == nil || slices.Contains(allowed, jose.SignatureAlgorithm(*h.Alg)) {
		return "", false
	}
	return *h.Alg, true
}

// quote returns s quoted and cut short, for naming client input in errors.
func quote(s string) string {
	b, _ := json.Marshal(truncate(s, 32))
	return string(b)
}

func algList(algs []jose.SignatureAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// checkClaims checks a verified token's claims against the config and the
// role, in Vault's order: issuer, subject, audience, times (with the
// role's leeways), then bound claims. Each refusal names the failed check.
func checkClaims(v *verified, c *config, r *role, now time.Time) error {
	iss, hasIss := v.claims["iss"].(string)
	if c.OIDCDiscoveryURL != "" && (!hasIss || iss != c.OIDCDiscoveryURL) {
		return invalid(tokenPrefix + "invalid issuer (iss) claim: it is not the issuer of the OIDC discovery URL")
	}
	if c.BoundIssuer != "" && (!hasIss || iss != c.BoundIssuer) {
		return invalid(tokenPrefix + "invalid issuer (iss) claim: it does not match bound_issuer")
	}
	if r.BoundSubject != "" {
		if sub, ok := v.claims["sub"].(string); !ok || sub != r.BoundSubject {
			return invalid(tokenPrefix + "invalid subject (sub) claim: it does not match the role's bound_subject")
		}
	}
	if err := checkAudience(v.claims, r); err != nil {
		return err
	}
	if err := checkTimes(v.claims, r, now); err != nil {
		return err
	}
	if err := checkUnboundAudience(v.claims, r); err != nil {
		return err
	}
	glob := r.BoundClaimsType == claimTypeGlob
	for _, name := range slices.Sorted(maps.Keys(r.BoundClaims)) {
		want, err := boundValues(r.BoundClaims[name])
		if err != nil {
			return errors.New("stored bound claim does not decode")
		}
		got, found := lookupClaim(v.claims, name, true)
		if !found {
			return invalid(claimsPrefix + "claim " + quote(name) + " is missing, and the role's bound_claims require it")
		}
		values, ok := claimStrings(got)
		if !ok || !anyMatch(values, want, glob) {
			return invalid(claimsPrefix + "claim " + quote(name) + " does not match any associated bound claim values")
		}
	}
	return nil
}

// checkTimes checks exp, nbf and iat: a token needs at least one of them;
// it is expired once now passes exp by more than the expiration leeway
// plus the clock skew leeway, not yet valid while now is before nbf by
// more than the not-before leeway plus the clock skew leeway, and refused
// when iat is later than now by more than the clock skew leeway.
func checkTimes(claims map[string]any, r *role, now time.Time) error {
	exp, hasExp, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	nbf, hasNbf, err := numericDate(claims, "nbf")
	if err != nil {
		return err
	}
	iat, hasIat, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	if !hasExp && !hasNbf && !hasIat {
		return invalid(tokenPrefix + "no issued at (iat), not before (nbf), or expiration time (exp) claims in token")
	}
	skew := effective(r.ClockSkewLeeway)
	if hasExp && now.After(exp.Add(effective(r.ExpirationLeeway)+skew)) {
		return invalid(tokenPrefix + "invalid expiration time (exp) claim: token is expired")
	}
	if hasNbf && now.Before(nbf.Add(-effective(r.NotBeforeLeeway)-skew)) {
		return invalid(tokenPrefix + "invalid not before (nbf) claim: token not yet valid")
	}
	if hasIat && now.Before(iat.Add(-skew)) {
		return invalid(tokenPrefix + "invalid issued at (iat) claim: token issued in the future")
	}
	return nil
}

// numericDate reads a NumericDate claim (seconds since the epoch,
// possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	v, ok := claims[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return time.Time{}, false, invalid(tokenPrefix + "token claim " + quote(name) + " is not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<40 {
		return time.Time{}, false, invalid(tokenPrefix + "token claim " + quote(name) + " is not a valid time")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audiences returns the token's aud as a list (nil without one).
func audiences(claims map[string]any) ([]string, error) {
	raw, has := claims["aud"]
	if !has {
		return nil, nil
	}
	notStrings := invalid(tokenPrefix + "invalid audience (aud) claim: it is not a string or a list of strings")
	switch v := raw.(type) {
	case string:
		return []string{v}, nil
	case []any:
		aud := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, notStrings
			}
			aud = append(aud, s)
		}
		return aud, nil
	default:
		return nil, notStrings
	}
}

// checkAudience requires the token's aud to name one of the role's
// bound_audiences when the role has any.
func checkAudience(claims map[string]any, r *role) error {
	aud, err := audiences(claims)
	if err != nil {
		return err
	}
	if len(r.BoundAudiences) > 0 && !anyMatch(aud, r.BoundAudiences, false) {
		return invalid(tokenPrefix + "invalid audience (aud) claim: audience claim does not match any expected audience (the role's bound_audiences)")
	}
	return nil
}

// checkUnboundAudience refuses a token with an aud claim, even an empty
// one, when the role has no bound_audiences.
func checkUnboundAudience(claims map[string]any, r *role) error {
	if _, has := claims["aud"]; has && len(r.BoundAudiences) == 0 {
		return invalid("audience claim found in JWT but no audiences bound to the role")
	}
	return nil
}
