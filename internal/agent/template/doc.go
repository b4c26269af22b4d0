// Package template renders agent templates: Go text/template with the
// functions Vault Agent and consul-template templates use (secret, pkiCert,
// env, toJSON, base64Encode, split, join, replaceAll, timestamp and more),
// so that common existing templates render unchanged.
//
// Secrets come from a [Fetcher] the caller passes to [Template.Render]; the
// package does no I/O of its own except what env and file read. A parsed
// [Template] is safe for concurrent use: each Render works on a clone.
//
// Errors never hold secret values: a failed lookup names the path, and a
// missing key names the key.
package template
