// Package conformance holds tests that compare Coffer with Vault on the
// wire, one file per area (configuration, status codes and errors, request
// bodies, semantics, what clients match on, the command line). Each test
// runs a real `coffer server` process built once by TestMain and drives it
// with the official github.com/hashicorp/vault/api client, or with raw HTTP
// where the client hides the status code or the body. When a new
// difference from Vault is found, its test goes in the file of its area.
// The package has no code of its own.
package conformance
