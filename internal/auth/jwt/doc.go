// Package jwt is the JWT auth method: workloads and CI systems log in with
// a JWT signed by an identity provider, with the paths and JSON shapes of
// Vault's JWT/OIDC auth method (its JWT part): config, role/:name (create,
// read, update, delete), LIST role, and login {role, jwt}.
//
// # Verification
//
// The config names exactly one key source: jwt_validation_pubkeys (PEM
// public keys or certificates), jwks_url (a JWKS fetched over HTTPS,
// trusting jwks_ca_pem or else the system roots) or oidc_discovery_url
// (whose .well-known/openid-configuration must name that same URL as its
// issuer and gives the jwks_uri; tokens must then carry that issuer).
// Fetched keys are cached; they are fetched again when a token names a
// key ID (kid) the cache does not hold and when they are older than an
// hour, but never more than once every five seconds, so tokens with made-up
// key IDs cannot make the server fetch on every request. When a refresh
// fails the cached keys stay in use. The config write fetches the keys
// once, so a wrong URL or CA is reported at once.
//
// Only asymmetric signatures are accepted: RS256/384/512, PS256/384/512,
// ES256/384/512 and EdDSA (jwt_supported_algs may narrow that list, never
// widen it). "none" and HS* are refused before any key is touched, which
// rules out the confusion attack of an HMAC keyed with a public key. Each
// algorithm is tried only with keys of its type (and curve); RSA keys
// under 2048 bits are refused.
//
// After the signature, a login checks, in Vault's order: the issuer
// against bound_issuer; bound_subject; the audience (a role with
// bound_audiences needs one of them in aud); exp, nbf and iat (at least
// one must be present; exp may be passed by expiration_leeway plus
// clock_skew_leeway, nbf anticipated by not_before_leeway plus
// clock_skew_leeway, iat by clock_skew_leeway; Vault's defaults are 150 s,
// 150 s and 60 s; 0 means the default and -1 no leeway); that a token with
// an aud has a role with bound_audiences; and bound_claims (exact, or with
// bound_claims_type "glob" where "*" matches any run of characters; a
// list of values means any of them; a claim holding a list matches when
// any element does; names starting with "/" are JSON pointers). Time is
// read from the backend's [logical.Clock].
//
// A refused token is a [logical.ErrInvalidCredentials] error (HTTP 400, as
// in Vault) whose message starts with Vault's words ("error validating
// token: error verifying token signature: ...", "error validating token:
// invalid expiration time (exp) claim: token is expired", "error
// validating claims: claim "env" does not match any associated bound claim
// values", ...) and goes on to name the failed check; messages never hold
// the token, and quote client-chosen strings (algorithm, claim names) only
// short. A client outside the role's token_bound_cidrs is
// [logical.ErrPermissionDenied] (403, as in Vault). A malformed request or
// token is [logical.ErrInvalidRequest]; keys that cannot be fetched are
// [logical.ErrUpstream].
//
// # Login result
//
// The user_claim (default "sub"; a JSON pointer when
// user_claim_json_pointer is set) names the identity alias and the token.
// The metadata holds "role" (the role name) and one key per claim_mappings
// entry (lists joined by commas). When groups_claim is set, its values
// are the login's group aliases ([logical.Auth.GroupAliases]): core puts
// the entity in the external groups whose group aliases on the mount
// bear those names. They are not put in any metadata; "groups" stays a
// reserved metadata key for claim_mappings.
//
// # Differences from Vault
//
// role_type defaults to "jwt" and "oidc" (browser login) is refused;
// OIDC-only fields (oidc_client_id, allowed_redirect_uris, ...) are
// ignored with a warning, like any unknown field. Vault's deprecated ttl,
// max_ttl, period, num_uses and bound_cidrs are refused (see
// [framework.TokenParamsUpdate]). verbose_oidc_logging is stored and
// ignored. Key source
// URLs must be https. A role needs at least one of bound_audiences,
// bound_subject, bound_claims and token_bound_cidrs, as in Vault.
//
// # Storage layout
//
//	config        the mount's config (JSON)
//	role/<name>   a role (JSON); names are lowercased
//
// # Concurrency
//
// A backend is safe for concurrent use. Role writes are serialised by one
// mutex; logins take none but the key cache's. The key source is rebuilt
// whenever the stored config differs from the one it was built from, so a
// config written by another node is picked up at the next login.
//
// This package imports logical, logical/framework and go-jose, never core,
// httpapi or testing.
package jwt
