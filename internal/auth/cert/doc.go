// Package cert is the TLS certificate auth method, with Vault's paths and
// JSON shapes: trusted certificate entries (certs/:name to create, read,
// update and delete, LIST certs), revocation lists (crls/:name to write,
// read and delete, LIST crls), the mount's config, and login.
//
// # Trust
//
// A certificate entry holds one or more PEM certificates. Those that are CA
// certificates (basic constraints valid, CA set) are trust anchors: a
// client certificate chaining to one of them, through intermediates the
// client presents, is accepted by the entry. Those that are not CA
// certificates are pinned: they match only a client that presents exactly
// that certificate, and are never used as an issuer.
//
// Login reads the client's certificates from the connection's TLS state
// (the first one is the client's own certificate, the rest are
// intermediates). Although the listener has usually verified them already,
// the auth method verifies them again itself with crypto/x509, at the
// mount clock's time, requiring the client-authentication extended key
// usage along the whole chain. The client certificate must carry an
// extended key usage extension naming client authentication or any usage,
// as Vault documents for client certificates.
//
// A chain is refused when any certificate in it has a serial number listed
// in any stored CRL, whatever the CRL's issuer: like Vault, revocation is
// matched by serial number alone, which errs on the side of refusing. A
// CRL is stored as its set of revoked serials; its signature is not
// checked, since only an operator with write access can upload one.
//
// Login tries the entry named in the request or, without a name, every
// entry in name order, and the first entry that verifies the chain and
// whose constraints (allowed_names, allowed_common_names, allowed_dns_sans,
// allowed_email_sans, allowed_uri_sans, allowed_organizational_units,
// token_bound_cidrs) the client certificate meets wins. Patterns are globs
// in which "*" matches any run of characters, "/" and "." included (so
// "spiffe://cluster/ns/*/sa/*" and "*.example.com" work as in Vault); DNS
// names are compared case-insensitively. required_extensions is accepted
// only empty. A refused login is a [logical.ErrInvalidCredentials] error
// (HTTP 400) with one of Vault's two messages: "invalid certificate or no
// client certificate supplied" when no entry trusts the client's chain,
// and "no chain matching all constraints could be found for this login
// certificate" when one does but a certificate of the chain is revoked,
// the client certificate misses a constraint or the client address is
// outside token_bound_cidrs; the causes go to the server log only. A login
// without a TLS connection or without a client certificate is an
// [logical.ErrInvalidRequest] error, "client certificate must be
// supplied".
//
// The identity alias of a login is the client certificate's subject common
// name or, when it has none, its serial number. The token metadata holds
// cert_name, common_name, serial_number (decimal), subject_key_id and
// authority_key_id (colon-separated hex); with enable_identity_alias_metadata
// set in config the alias carries the same metadata.
//
// Entry writes also accept Vault's deprecated policies, ttl, max_ttl,
// period and bound_cidrs, used only when the matching token_* field is
// absent. ocsp_enabled is refused (Coffer does no OCSP check, and
// ignoring it would let a revoked certificate log in); other unknown
// fields (the other OCSP settings, allowed_metadata_extensions) are
// ignored with a warning, as in Vault.
//
// disable_binding is stored and reported for compatibility, but has no
// effect yet: core does not call auth methods when a token is renewed.
//
// # Storage layout
//
//	config       the mount's config (JSON)
//	cert/<name>  a certificate entry: PEM, constraints and token parameters (JSON)
//	crl/<name>   a CRL's revoked serials, decimal (JSON)
//
// Entry and CRL names are lowercased, as in Vault.
//
// # Concurrency
//
// A backend is safe for concurrent use. Writes that read and modify an
// entry are serialised by one mutex; logins take no lock but a short one
// around a cache of parsed entries and CRLs, keyed by the stored bytes, so
// a change in storage is always seen.
//
// This package imports logical and logical/framework, never core, httpapi
// or testing.
package cert
