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

// denied is a refused login: the message names the failed check and never
// holds the token.
func denied(msg string) error {
	return &logical.Error{Kind: logical.ErrPermissionDenied, Msg: msg}
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
			return nil, denied("token signing algorithm " + quote(alg) + " is not allowed: only " + algList(c.allowedAlgs()) + " are accepted")
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
		return nil, denied("no configured key has the token's key ID (kid) and algorithm")
	case !tried:
		return nil, denied("no configured key fits the token's signing algorithm")
	case payload == nil:
		return nil, denied("token signature is not valid for any configured key")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, denied("token claims are not a JSON object")
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
// role: times (with the role's leeways), issuer, audience, subject and
// bound claims. Each refusal names the failed check.
func checkClaims(v *verified, c *config, r *role, now time.Time) error {
	if err := checkTimes(v.claims, r, now); err != nil {
		return err
	}
	iss, hasIss := v.claims["iss"].(string)
	if c.OIDCDiscoveryURL != "" && (!hasIss || iss != c.OIDCDiscoveryURL) {
		return denied("token issuer (iss) does not match the issuer of the OIDC discovery URL")
	}
	if c.BoundIssuer != "" && (!hasIss || iss != c.BoundIssuer) {
		return denied("token issuer (iss) does not match bound_issuer")
	}
	if err := checkAudience(v.claims, r); err != nil {
		return err
	}
	if r.BoundSubject != "" {
		if sub, ok := v.claims["sub"].(string); !ok || sub != r.BoundSubject {
			return denied("token subject (sub) does not match the role's bound_subject")
		}
	}
	glob := r.BoundClaimsType == claimTypeGlob
	for _, name := range slices.Sorted(maps.Keys(r.BoundClaims)) {
		want, err := boundValues(r.BoundClaims[name])
		if err != nil {
			return errors.New("stored bound claim does not decode")
		}
		got, found := lookupClaim(v.claims, name, true)
		if !found {
			return denied("token has no " + quote(name) + " claim, which the role's bound_claims require")
		}
		values, ok := claimStrings(got)
		if !ok || !anyMatch(values, want, glob) {
			return denied("token claim " + quote(name) + " does not match the role's bound_claims")
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
		return denied("token has none of the exp, nbf and iat claims")
	}
	skew := effective(r.ClockSkewLeeway)
	if hasExp && now.After(exp.Add(effective(r.ExpirationLeeway)+skew)) {
		return denied("token is expired (exp)")
	}
	if hasNbf && now.Before(nbf.Add(-effective(r.NotBeforeLeeway)-skew)) {
		return denied("token is not valid yet (nbf)")
	}
	if hasIat && now.Before(iat.Add(-skew)) {
		return denied("token was issued in the future (iat)")
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
		return time.Time{}, false, denied("token claim " + quote(name) + " is not a number")
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1<<40 {
		return time.Time{}, false, denied("token claim " + quote(name) + " is not a valid time")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// checkAudience requires the token's aud to name one of the role's
// bound_audiences, and refuses a token with an aud when the role has no
// bound_audiences.
func checkAudience(claims map[string]any, r *role) error {
	raw, has := claims["aud"]
	var aud []string
	if has {
		switch v := raw.(type) {
		case string:
			aud = []string{v}
		case []any:
			for _, a := range v {
				s, ok := a.(string)
				if !ok {
					return denied("token audience (aud) is not a string or a list of strings")
				}
				aud = append(aud, s)
			}
		default:
			return denied("token audience (aud) is not a string or a list of strings")
		}
	}
	switch {
	case len(r.BoundAudiences) == 0 && has:
		return denied("token has an audience (aud) but the role has no bound_audiences")
	case len(r.BoundAudiences) > 0 && !has:
		return denied("token has no audience (aud) but the role has bound_audiences")
	case len(r.BoundAudiences) > 0 && !anyMatch(aud, r.BoundAudiences, false):
		return denied("token audience (aud) does not match any of the role's bound_audiences")
	}
	return nil
}
