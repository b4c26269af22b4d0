// Package cli is Coffer's command-line client: `coffer status`, `coffer kv
// get`, `coffer operator init` and the rest. Command lines written for the
// `vault` binary work unchanged once the binary name is changed: the same
// command paths, the same flag names (parsed by the standard flag package, so
// both -flag=value and --flag=value, flags before positional arguments), the
// same key=value, key=@file and key=- arguments and the same exit codes.
//
// The client reaches a server only over HTTP, through the official
// github.com/hashicorp/vault/api client; it must not import the server or
// anything below it. `coffer server` is routed to a function the caller
// injects in [Env].
//
// # Tokens
//
// A command's token is COFFER_TOKEN, else VAULT_TOKEN, else the contents of
// ~/.coffer-token, which `coffer login` writes (mode 0600) after a
// successful login by token, userpass or approle. Secrets given to login
// (tokens, passwords, secret IDs) are read from arguments, @files or stdin,
// or prompted for with echo off on a terminal; they never appear in error
// messages.
//
// # Exit codes
//
//   - 0: success.
//   - 1: usage error (bad flags, wrong number of arguments, an unreadable
//     @file, a field that is not in the response) or, for `status`, a failure
//     to reach the server.
//   - 2: the server answered with an error (403, 404, 400, 5xx) or could not
//     be reached; `status` also exits 2 when the server is sealed.
//   - 127: no command, or an unknown top-level command.
//
// `coffer scan` differs, as scanners do: 0 nothing found, 1 findings, 2
// any error (bad flags included).
//
// # Concurrency
//
// [Run] keeps no state between calls and may run concurrently with itself as
// long as each call has its own [Env].
package cli
