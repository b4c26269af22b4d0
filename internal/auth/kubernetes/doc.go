// Package kubernetes is the Kubernetes auth method: pods log in with their
// service account token, which the cluster's TokenReview API vouches for.
// It has the paths and JSON shapes of Vault's Kubernetes auth method:
// config, role/:name (create, read, update, delete), LIST role, and login
// {role, jwt}. It speaks the TokenReview API with net/http and
// encoding/json; it uses no Kubernetes client library.
//
// # Login
//
// A login first reads the token's claims WITHOUT verifying its signature,
// only to refuse early, in Vault's order: the issuer must match when
// disable_iss_validation is false, the token's aud must include the role's
// audience when set, and the service account name and namespace (from the
// legacy "kubernetes.io/serviceaccount/..." claims or the projected
// token's "kubernetes.io" object) must match the role's
// bound_service_account_names and bound_service_account_namespaces (globs
// where "*" matches any run of characters; both cannot be just "*"). Only
// then is the cluster
// asked: POST {kubernetes_host}/apis/authentication.k8s.io/v1/tokenreviews
// with the token (and the role's audience), trusting kubernetes_ca_cert
// (the system roots when empty), authenticated with token_reviewer_jwt or,
// when none is configured, with the client's own token. The answer must
// say authenticated, name the user "system:serviceaccount:<ns>:<name>" of
// the claims (and the same UID), and confirm the role's audience. Nothing
// the unverified claims say is trusted unless the cluster confirms it.
//
// A refused login is a [logical.ErrPermissionDenied] error (HTTP 403: here
// Vault's Kubernetes method answers 403, where its other methods answer
// 400 for invalid credentials) whose message starts with Vault's words
// ("invalid issuer (iss) claim", "invalid audience (aud) claim", "service
// account name not authorized", "namespace not authorized", "permission
// denied") and goes on to name the failed check: a claim, an
// unauthenticated token (expired, or its service account or pod deleted),
// a TokenReview error, or a 401/403 from the API server. An unknown role
// is an [logical.ErrInvalidRequest], "invalid role name".
// An API server that cannot be reached or answers another failure status
// is [logical.ErrUpstream]. Messages never hold the client's token or the
// reviewer JWT.
//
// The login's metadata holds "role", "service_account_name",
// "service_account_namespace", "service_account_uid" and
// "service_account_secret_name" (empty for projected tokens); the alias
// carries the same minus "role". The alias name is the service account's
// UID (alias_name_source "serviceaccount_uid", the default) or
// "<namespace>/<name>" ("serviceaccount_name").
//
// # Configuration
//
// kubernetes_host must be an https URL. token_reviewer_jwt is stored
// (encrypted by the barrier like all storage) and never returned: reads
// report token_reviewer_jwt_set instead. disable_iss_validation defaults
// to true, as in current Vault.
//
// disable_local_ca_jwt defaults to TRUE here, unlike Vault: Coffer reads
// the pod's own CA certificate and token from
// /var/run/secrets/kubernetes.io/serviceaccount only when the config sets
// disable_local_ca_jwt to false explicitly (and then only for what
// kubernetes_ca_cert and token_reviewer_jwt leave empty; missing files
// are ignored and the token file is re-read at each login, since projected
// tokens rotate). Servers outside a cluster, and tests, never touch that
// path.
//
// # Storage layout
//
//	config        the mount's config (JSON)
//	role/<name>   a role (JSON); names are lowercased
//
// # Concurrency
//
// A backend is safe for concurrent use. Role writes are serialised by one
// mutex; logins take none but the one guarding the cached HTTP client,
// which is rebuilt when the CA certificate changes.
//
// This package imports logical, logical/framework and go-jose (only to
// parse tokens), never core, httpapi or testing.
package kubernetes
