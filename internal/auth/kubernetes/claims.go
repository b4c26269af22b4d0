package kubernetes

import (
	"bytes"
	"encoding/json"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// maxJWTBytes bounds a submitted token.
const maxJWTBytes = 64 << 10

// serviceAccount is who a token says it is, read without verifying its
// signature: the TokenReview API verifies it afterwards.
type serviceAccount struct {
	Name       string
	Namespace  string
	UID        string
	SecretName string // legacy Secret-based tokens only
	Issuer     string
	Audiences  []string
}

// saClaims are the claims of both kinds of service account token: legacy
// Secret-based tokens with flat "kubernetes.io/serviceaccount/..." claims,
// and projected (bound) tokens with a nested "kubernetes.io" object.
type saClaims struct {
	Issuer     string          `json:"iss"`
	Audience   json.RawMessage `json:"aud"`
	Namespace  string          `json:"kubernetes.io/serviceaccount/namespace"`
	Name       string          `json:"kubernetes.io/serviceaccount/service-account.name"`
	UID        string          `json:"kubernetes.io/serviceaccount/service-account.uid"`
	SecretName string          `json:"kubernetes.io/serviceaccount/secret.name"`
	Projected  *struct {
		Namespace      string `json:"namespace"`
		ServiceAccount struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"serviceaccount"`
	} `json:"kubernetes.io"`
}

// rawPayload captures a JWT payload as bytes.
type rawPayload []byte

// UnmarshalJSON implements json.Unmarshaler for go-jose's decoder.
func (p *rawPayload) UnmarshalJSON(b []byte) error {
	*p = bytes.Clone(b)
	return nil
}

// parseUnverified reads the service account claims of raw without checking
// its signature. Only the asymmetric algorithms Kubernetes signs with are
// accepted. Errors are [logical.ErrInvalidRequest] or
// [logical.ErrPermissionDenied] errors that never hold the token.
func parseUnverified(raw string) (*serviceAccount, error) {
	if len(raw) > maxJWTBytes {
		return nil, logical.InvalidRequest("jwt is longer than %d bytes", maxJWTBytes)
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	})
	if err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "jwt is not a well-formed JWT signed with an asymmetric algorithm", Err: err}
	}
	var payload rawPayload
	if err := tok.UnsafeClaimsWithoutVerification(&payload); err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "jwt claims are not readable", Err: err}
	}
	var c saClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "jwt claims are not those of a Kubernetes service account token", Err: err}
	}
	sa := &serviceAccount{Name: c.Name, Namespace: c.Namespace, UID: c.UID, SecretName: c.SecretName, Issuer: c.Issuer}
	if p := c.Projected; p != nil {
		sa.Namespace, sa.Name, sa.UID = p.Namespace, p.ServiceAccount.Name, p.ServiceAccount.UID
	}
	if sa.Name == "" || sa.Namespace == "" {
		return nil, denied("service account name not authorized: the token has no service account name and namespace claims, it is not a Kubernetes service account token")
	}
	if len(c.Audience) > 0 && string(c.Audience) != "null" {
		var one string
		if err := json.Unmarshal(c.Audience, &one); err == nil {
			sa.Audiences = []string{one}
		} else if err := json.Unmarshal(c.Audience, &sa.Audiences); err != nil {
			return nil, logical.InvalidRequest("jwt audience (aud) is not a string or a list of strings")
		}
	}
	return sa, nil
}

// denied is a refused login, [logical.ErrPermissionDenied]: Vault's
// Kubernetes method answers 403 where its JWT method answers 400. The
// message starts with Vault's words for the check and never holds the
// token.
func denied(msg string) error {
	return &logical.Error{Kind: logical.ErrPermissionDenied, Msg: msg}
}
