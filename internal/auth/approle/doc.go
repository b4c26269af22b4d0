// Package approle is the AppRole auth method, with Vault's paths and JSON
// shapes: roles (role/:role_name and LIST role), their role IDs
// (role/:role_name/role-id), secret IDs (role/:role_name/secret-id to
// generate and list, custom-secret-id, secret-id/lookup and /destroy,
// secret-id-accessor/lookup and /destroy), tidy/secret-id, and login with
// a role ID and a secret ID.
//
// # Secrets at rest
//
// A secret ID is never stored. Each mount keeps a random 32-byte key at
// "salt"; secret IDs are stored under the hex HMAC-SHA256 of the value
// under that key, and a login finds its secret ID by recomputing the HMAC,
// so matching is a map lookup rather than a comparison of secrets. Role IDs
// are indexed the same way. Role IDs themselves are stored with the role,
// because role-id reads return them, as in Vault.
//
// # Storage layout
//
//	salt                                the mount's HMAC key
//	role/<name>                         a role (JSON)
//	role_id/<hmac(role ID)>             the name of the role with that role ID
//	secret_id/<hmac(name)>/<hmac(ID)>   a secret ID's entry: accessor, uses left, expiry, metadata, CIDRs
//	accessor/<hmac(name)>/<accessor>    the HMAC of the secret ID with that accessor
//
// Role names are lowercased. Every change is one storage transaction, so a
// role, its index and its secret IDs never disagree after a crash.
//
// # Logins
//
// Every failed login answers the same [logical.ErrInvalidCredentials]
// error, Vault's "invalid role or secret ID" (HTTP 400), whether the role
// ID is unknown or its role deleted, the secret ID is wrong, expired, used
// up, destroyed or another role's, or the client's address is outside a
// bound CIDR; the cause goes only to the server log. A failed login does the
// same storage reads and HMACs whatever the cause. Only a missing role_id
// or a malformed body is an [logical.ErrInvalidRequest] error.
//
// A secret ID with a use limit is used up under its role's lock in one
// transaction: its last use succeeds and deletes it, and no concurrent
// login can use it once more.
//
// # Concurrency
//
// A backend is safe for concurrent use. Role writes are serialised by one
// mutex (so role IDs stay unique); the secret IDs of a role are changed
// under a striped per-role lock, taken after the role mutex when both are
// needed. Logins of secret IDs without a use limit take no lock.
//
// This package imports logical and logical/framework, never core, httpapi
// or testing.
package approle
