// Package logical is the contract between Coffer's core and everything
// mounted in it: secrets engines and auth methods ("backends").
//
// A backend receives a [Request] whose path is relative to its mount, reads
// and writes a mount-scoped [Storage], and returns a [Response] or an error
// made with [Error]. Backends know nothing of HTTP, tokens, policies or
// audit. This package imports only the standard library.
package logical
