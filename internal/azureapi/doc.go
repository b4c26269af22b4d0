// Package azureapi serves the Azure Key Vault secrets REST API
// (api-version 7.0 and later: PUT/GET/PATCH/DELETE /secrets/...,
// /deletedsecrets/...) over one KV version 2 mount.
//
// It is a translator in front of the core pipeline, nothing else: the
// request's bearer token is a Coffer client token, and every operation
// becomes core requests on the mount's data/, metadata/, deleted/ and
// recover/ paths made with that token, so that ACL policies, audit and
// incident containment apply as to any Vault client. It never reads
// storage itself and imports no engine.
//
// How Azure concepts map onto KV version 2 (docs/azure-key-vault.md has
// the user's version):
//
//   - A secret's name is its KV path at the mount's top level (names are
//     ^[0-9a-zA-Z-]{1,127}$, so there are no folders).
//   - A secret version is a KV version; its 32-hex-digit version id is
//     the KV version number written in hexadecimal, zero-padded
//     ([VersionID]), so that versions written through the Vault or AWS
//     APIs have ids too and nothing needs to be stored to find one.
//   - The value is stored as the data {"SecretString": "..."}, as the
//     AWS Secrets Manager API stores a SecretString, so that the same
//     secret reads the same through both; other KV data reads as the
//     JSON object it is.
//   - A version's contentType, tags and attributes (enabled, nbf, exp)
//     are one custom_metadata key, "azure:v:N" for version N, holding
//     them as compact JSON; absent when all are defaults. It is written
//     in the same request as the version (KV's options.custom_metadata)
//     or by one metadata patch (UpdateSecret).
//   - Deleting a secret is a KV metadata delete: the recovery window
//     (docs/lifecycle.md) decides whether it is kept recoverable.
//
// A request without a bearer token is answered with the challenge the
// Azure SDKs expect (401, WWW-Authenticate) before its body is read; a
// body is at most [MaxBody] bytes. On a standby, a [Forwarder] passes the
// request to the active node unchanged.
//
// A Handler is safe for concurrent use; it keeps no state between
// requests.
package azureapi
