// Package passpol parses and applies password policies: the HCL documents
// that sys/policies/password/:name stores and that secrets engines use to
// make database and other passwords.
//
// A policy names a length and one or more charset rules:
//
//	length = 20
//	rule "charset" {
//	  charset   = "abcdefghijklmnopqrstuvwxyz"
//	  min-chars = 1
//	}
//
// [Parse] checks a policy completely (unknown keys and blocks are refused
// and every error names its line); [Policy.Generate] draws each character
// uniformly from the union of the charsets, by rejection sampling so that
// there is no modulo bias, and retries a bounded number of times until
// every rule's min-chars is met. [Default] is the policy used when none is
// named.
//
// The package imports only the standard library and the HCL parser. A
// [Policy] is immutable once parsed and safe for concurrent use; the
// io.Reader passed to Generate must be safe for the caller's concurrency
// (crypto/rand.Reader is).
package passpol
