// Package trail reads audit logs offline, for `coffer audit verify` and
// `coffer audit search`: [Verify] checks a file's hash chain and signed
// checkpoints and names the first line that was edited, deleted,
// inserted, moved, cut short or brought in from another device's log;
// [Search] picks entries by path, operation, accessor, entity, time,
// status and HMACed value.
//
// It reads the format package audit writes and needs no server and no
// secret: the public key that checks signatures is served at
// sys/audit/:path/public-key. Its functions share no state and are safe
// for concurrent use. It imports only the standard library and
// internal/audit.
package trail
