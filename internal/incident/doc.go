// Package incident is the pure logic of incident response (issue 16):
// which tokens an incident's [Criteria] match, the [Guard] the request
// pipeline asks about blocked addresses, roles, certificate serials and
// path lockdowns, and the [Report] built offline from an audit log of
// what the contained identities did.
//
// It does no I/O of its own except reading the audit log it is handed,
// and imports only the standard library and the audit line types. The
// sys/incident endpoints (package internal/sys/incident) store incidents
// and drive containment through core; the CLI builds reports. A [Guard]
// is immutable and safe for concurrent use.
package incident
