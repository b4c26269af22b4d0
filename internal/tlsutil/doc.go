// Package tlsutil provides the TLS material for Coffer's listeners.
//
// [EnsureLocalCA] keeps a small certificate authority in a directory and a
// server certificate issued by it, so that a listener with TLS on and no
// certificate configured still serves TLS: clients trust the CA file. It is
// the "secure by default" path, not a replacement for a real PKI.
//
// [ServerConfig] builds the server side *tls.Config for a listener: TLS 1.2
// or later with AEAD cipher suites only, the certificate served through a
// [Reloader] so that a SIGHUP can swap it without a restart, and optional
// client certificate verification.
//
// The package imports only the standard library. EnsureLocalCA must not be
// called concurrently for one directory (the server calls it once at
// start-up and on reload); a Reloader is safe for concurrent use.
package tlsutil
