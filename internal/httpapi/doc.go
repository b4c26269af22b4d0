// Package httpapi turns HTTP requests into core requests and core results
// into Vault-shaped JSON responses. It is the only package that knows HTTP
// status codes: errors from below carry kinds, mapped once in errors.go.
//
// httpapi imports core and logical; never an engine or storage. A
// [Handler] is safe for concurrent use.
package httpapi
