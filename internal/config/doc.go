// Package config reads the Coffer server's configuration file.
//
// The file is HCL native syntax (what Vault's own configuration files use):
//
//	storage "bolt" {
//	  path = "/var/lib/coffer/coffer.db"
//	}
//
//	listener "tcp" {
//	  address       = "0.0.0.0:8200"
//	  tls_cert_file = "/etc/coffer/tls.crt"
//	  tls_key_file  = "/etc/coffer/tls.key"
//	}
//
//	api_addr  = "https://coffer.example.com:8200"
//	log_level = "info"
//
// [Load] and [Parse] do everything in one place: decode the file into a
// [Config], apply defaults, apply environment overrides, and validate the
// result. Every problem found is reported, joined with errors.Join, as an
// [*Error] naming the file, line and key ("coffer.hcl:3,3-10: unknown key
// "pathh" in storage "bolt"; did you mean "path"?"). Unknown keys and
// blocks are errors, never silently ignored. Keys Vault documents that mean
// nothing to Coffer (disable_mlock, plugin_directory, telemetry sinks ...)
// are accepted and listed in [Config.Warnings], one [Warning] per key, for
// the server to log; those Coffer cannot honour safely (a cloud KMS
// seal Coffer does not have, ha_storage, chroot_namespace ...) are errors that say why. The
// field comments on [Config] and the types it holds are the user
// documentation for each key; docs/configuration.md lists every key with
// its class.
//
// The HCL JSON syntax is not supported.
//
// The package imports only the standard library and HCL (with go-cty). A returned
// [*Config] is never modified by this package; it is safe to share between
// goroutines as long as nobody writes to it.
package config
