// Package kms is Coffer's Kubernetes KMS v2 plugin: the gRPC service the
// API server calls to wrap and unwrap the data encryption keys that
// encrypt Secrets (and any other resource) in etcd, backed by a key of
// Coffer's transit engine that the cluster never sees.
//
// [Plugin] implements the k8s.io/kms service.Service interface:
//
//   - Status reads the transit key: healthz is "ok" only when Coffer
//     answers and the key can encrypt and decrypt; key_id is
//     "<key>:v<latest version>", so it changes when the key rotates and
//     the API server then wraps a new data key. Status waits for Coffer
//     a few seconds at most, and less than its caller's deadline, so a
//     Coffer that does not answer makes it answer "not ok" in time.
//   - Encrypt sends the API server's plaintext (a data key or its seed) to
//     transit/encrypt/<key> and returns Coffer's ciphertext
//     ("vault:v<N>:..."), the key_id of version N and one annotation,
//     [AnnotationKey], naming the transit mount and key.
//   - Decrypt checks the key_id, the annotation and the ciphertext's shape
//     and sends it to transit/decrypt/<key>, which decrypts any version the
//     key still holds (min_decryption_version and above).
//
// [Serve] runs the gRPC service on a listener from [Listen], a unix socket
// named by an endpoint such as unix:///var/run/kmsplugin/socket.sock, with
// mode 0600; abstract sockets, which have no mode, are refused.
//
// The plugin is a client of Coffer like the agent: it reaches the server
// only through the HTTP API with github.com/hashicorp/vault/api, with a
// client whose token its caller keeps valid (the agent's auto-auth). It
// never logs, and never puts in errors, a plaintext, a ciphertext or a
// token. Failures are gRPC status errors: InvalidArgument for bad input,
// Unavailable while Coffer is unreachable or sealed, PermissionDenied when
// the token is refused.
//
// A Plugin holds no mutable state but the last key_id it saw; it is safe
// for concurrent use.
package kms
