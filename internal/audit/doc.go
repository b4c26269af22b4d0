// Package audit records every request and response Coffer serves in
// tamper-evident audit devices, and fails closed when none can record.
//
// # Pieces
//
// A [Broker] holds the enabled devices and hands each [Entry] to all of
// them in parallel. A [Device] formats the entry as one JSON line in
// Vault's audit shape, replacing every value that could be secret with
// "hmac-sha256:<hex>" under the device's own HMAC key, chains the line to
// the one before it and passes it to a [Sink]: a [File] (a path, "stdout"
// or "discard") or a [Socket] (tcp or unix). [ParseConfig] turns the
// options of sys/audit/:path into a [Config], and [Open] builds a device
// from it.
//
// # Tamper evidence
//
// Each line starts with three fields: "seq" (1, 2, 3 ... per device, kept
// across restarts and log rotation), "chain_id" (random, fixed for the
// life of the device's chain) and "prev_hash" (hex SHA-256 of the exact
// bytes of the previous line, without its newline; "" for seq 1). Every
// [DeviceOptions.CheckpointEvery] entries, on Reload, on Close and when
// the broker asks, the device writes a "checkpoint" line whose
// "signature" is an Ed25519 signature by the device's key over
// [CheckpointMessage]. The chain alone finds careless edits, deletions,
// insertions and reordering; because SHA-256 is unkeyed, someone who can
// write the file could recompute it, and only the signed checkpoints
// stop that. Lines after the last checkpoint are protected by the chain
// alone until the next checkpoint. A file device may also send each
// checkpoint to a witness ([OpenWitness]: a tcp or unix socket, or
// syslog), kept elsewhere, so that a file cut short after a checkpoint
// disagrees with it. Package trail verifies and searches files offline.
//
// # Concurrency
//
// Broker, Device, File and Socket are safe for concurrent use. A device
// writes one line at a time; the broker bounds how long a request waits
// for each device, so a stuck device never hangs a request.
//
// This package imports only the standard library and internal/logical. It
// never logs secrets: errors name devices and paths, never values.
package audit
