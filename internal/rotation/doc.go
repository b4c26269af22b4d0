// Package rotation holds the parts of scheduled secret rotation that know
// nothing of storage: the rotation policy of one secret (its schedule,
// window, grace period, generators and rotator) with its validation, the
// next-due computation, the value generators (password, random, ed25519,
// ec-p256, rsa-3072, keep) and the rotators (an HTTPS webhook signed with
// HMAC-SHA256, and a database user's password set through a database
// engine mount).
//
// The KV version 2 engine stores policies and rotation state and runs the
// schedule (see internal/engine/kv); this package is what it calls.
//
// It imports logical, logical/framework and backoff, never core or an
// engine. Everything here is safe for concurrent use; a [Webhook] may be
// shared.
//
// # Secrets
//
// Errors never quote a generated value, the webhook's HMAC key or its
// client key; the stored [Policy] holds the webhook's keys, so its reads
// go through [Policy.Public], which leaves them out.
package rotation
