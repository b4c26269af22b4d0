// Package gcpapi serves the Google Cloud Secret Manager API
// (google.cloud.secretmanager.v1.SecretManagerService, gRPC) over KV
// version 2 mounts, one per Google project.
//
// It is a translator in front of the core pipeline, nothing else: the
// "authorization: Bearer TOKEN" metadata of each call carries a Coffer
// client token, and every RPC becomes one or a few core requests on the
// project's mount (metadata/, data/, delete/, undelete/, destroy/) made
// with that token, so that ACL policies, audit and incident containment
// apply as to any Vault client. It never reads storage itself and
// imports no engine. Writes are one core request each where KV can
// apply them in one transaction (a new version with its
// custom_metadata, a metadata patch); reads that need the metadata and
// the data are two.
//
// How Google's concepts map onto KV version 2 (docs/gcp-secret-manager.md
// has the user's version):
//
//   - projects/P is the KV version 2 mount MOUNT_PREFIX + P + "/"
//     ("gcp-P/" by default); secrets/S is the key S in it.
//   - A secret version is a KV version; its payload is stored as the data
//     {"SecretString": "..."} when it is valid UTF-8 and as
//     {"SecretBinary": "<base64>"} otherwise, the convention of the AWS
//     Secrets Manager API (internal/awsapi), so that the three APIs read
//     each other's secrets. Any other KV data (written with the Vault
//     API) reads as the data as a compact JSON object.
//   - A disabled version is a soft-deleted KV version (delete/ and
//     undelete/); a destroyed one is a destroyed KV version.
//   - Labels, annotations, topics, the rotation schedule and the
//     replication policy are custom_metadata keys starting with "gcp:";
//     expire_time and ttl are KV's expiry (expire_at).
//   - Etags are derived from the KV metadata (its update time, current
//     version and custom metadata), so they change with every change.
//
// A [Service] is safe for concurrent use; it keeps no state between
// calls.
package gcpapi
