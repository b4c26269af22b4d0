// Package awsapi serves the AWS Secrets Manager API (the AWS JSON 1.1
// protocol: POST / with X-Amz-Target: secretsmanager.OPERATION) over one
// KV version 2 mount.
//
// It is a translator in front of the core pipeline, nothing else: an
// [Authenticator] turns the signed request into a Coffer client token, and
// every operation becomes core requests on the mount's data/, metadata/,
// deleted/, recover/, rotation/ and rotate/ paths made with that token,
// so that ACL policies, audit and incident containment apply as to any
// Vault client. It never reads storage itself and imports no engine.
// Each write is one core request, which KV applies in one transaction
// (its Coffer extensions carry the VersionId, labels and staging);
// RotateSecret alone is two (the policy, then the rotation).
//
// How AWS concepts map onto KV version 2 (docs/aws-secrets-manager.md has
// the user's version):
//
//   - A secret's name is its KV path; its ARN is
//     arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX, the six
//     characters kept in custom_metadata (aws:arn-suffix).
//   - A version is a KV version. SecretString is stored as the data
//     {"SecretString": "..."}, SecretBinary as {"SecretBinary": "<base64>"};
//     any other KV data (written with the Vault API) reads as a
//     SecretString holding the data as a JSON object.
//   - VersionIds, staging labels, the description and tags are
//     custom_metadata keys starting with "aws:" (see meta.go).
//   - AWSCURRENT is KV's current version; a version put without it is a
//     staged KV version, not current for Vault readers either.
//
// A Handler is safe for concurrent use; it keeps no state between
// requests.
package awsapi
