// Package framework holds the helpers that secrets engines and auth methods
// share: a path table that matches a request path against anchored regular
// expressions and dispatches on the operation ([Backend], [Path]), typed
// handlers that decode a request body into a struct, ignoring unknown
// members with Vault's warning ([Typed]),
// field types for Vault's loose input forms ([Duration], [CommaStrings],
// [Int], [Bool]), small response helpers ([ListResponse]), path-help
// from the path table ([Backend.Help]), and [Collection], the one way to
// keep named JSON records (roles, connections) with their list, read,
// delete and existence-check handlers.
//
// The package imports only the standard library and logical; it never
// imports core, httpapi or an engine. Everything in it is safe for
// concurrent use once built: a [Backend] compiles its patterns once and is
// then read-only.
package framework
