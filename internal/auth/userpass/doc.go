// Package userpass is the username and password auth method, with Vault's
// paths and JSON shapes: users/:username (create, read, update, delete),
// LIST users, users/:username/password, users/:username/policies and
// login/:username.
//
// # Passwords
//
// Passwords are hashed with Argon2id (RFC 9106) and a random 16-byte salt;
// the parameters are stored with each hash, so they can be raised later
// without invalidating stored passwords. The current parameters are
// t=2 passes over m=19 MiB with one lane, a 32-byte key: about 20 ms per
// hash on the 2-core development machine (t=1, m=64 MiB took 64 ms there;
// t=2, m=32 MiB 48 ms). That is the first configuration OWASP's password
// storage guidance lists for Argon2id; [Factory] always uses it, and only
// the package's own tests build backends with cheaper parameters. A
// password is never stored, logged or put in an error.
//
// A login for a user that does not exist hashes the submitted password
// against a dummy hash made with the current parameters when the backend
// is built, so the response time does not tell which users exist. Every
// failed login, whatever the reason (a wrong password, an unknown or
// deleted user, a client outside token_bound_cidrs), returns the same
// [logical.ErrInvalidCredentials] error, "invalid username or password",
// which is Vault's answer (HTTP 400). At most max(2, GOMAXPROCS) hashes
// run at once per mount, so a flood of logins queues instead of exhausting
// memory.
//
// # Storage layout
//
// Each user is one JSON entry at "user/<username>" holding the password
// hash and the token parameters. Usernames are lowercased, as in Vault.
//
// # Concurrency
//
// A backend is safe for concurrent use. Writes to one user are serialised
// by a striped lock, so a policies update never loses a concurrent password
// change; logins take no lock.
//
// This package imports logical, logical/framework and golang.org/x/crypto,
// never core, httpapi or testing.
package userpass
