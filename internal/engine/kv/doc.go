// Package kv is the key/value secrets engine, in Vault's two flavours:
// version 1 (one unversioned JSON object per path) and version 2 (versioned
// secrets with metadata, check-and-set, soft delete, undelete and destroy),
// with Vault's paths, JSON shapes and semantics.
//
// # Storage layout
//
// Version 1 keeps each secret's JSON object at "v1/<path>". Version 2 keeps
// the mount configuration at "config", each key's metadata (its settings
// and the state of every retained version) at "meta/<path>", and the data
// of version n at "ver/<path>/<n>". Listing metadata/ lists "meta/", so it
// shows user paths only. Secret data is stored as the client's JSON,
// compacted, and returned without being decoded. The secret lifecycle adds
// "life/expiry/<day>/<path>", an index by expiry day of the keys whose
// expiry is not yet announced, and "life/trash/<path>", the metadata of a deleted key kept
// for its recovery window (its versions stay under "ver/"). Last-read
// times are kept at "lastread/<path>" (Unix nanoseconds in decimal).
//
// # Recursive lists, last reads and search
//
// A list with ?recursive=true answers every key below the path in byte
// order, a page of at most limit keys after the key after, keeping only
// the keys the caller's [logical.AccessChecker] lets it read (data) or
// read or list (metadata) ([logical.MayViewKVKey]); it walks storage one
// folder at a time and examines at most a scan budget of keys, answering
// next_after when it stops before the end. Each version records the
// accessor and entity of the token that wrote it. A data read on the
// active node marks the key in memory (a standby records none); Periodic
// and Cleanup write the marks in batches, under the keys' locks. The
// version 2 backend is a [logical.SecretWalker], and its
// WalkSecretsFiltered lets a search check each key by path before reading
// it.
//
// # Lifecycle and events
//
// A key may expire (expire_at or ttl in its metadata): from then on its
// data reads answer 404 saying so and new versions are refused, until its
// metadata gets a later expiry. With a recovery window, deleting a key's
// metadata keeps it recoverable through recover/<path>; deleted/ lists
// and reads the recoverable keys. The backend's Periodic sends the expiry
// events and destroys keys whose window has passed. Every durable change
// sends an event through [logical.Env.Events] after its transaction.
//
// # Concurrency
//
// A backend is safe for concurrent use. Every version 2 change is one
// storage transaction. Writers of the same key are serialised by a striped
// lock so that version numbers and check-and-set are exact; readers take no
// lock and see either the state before or after a transaction.
//
// # Missing secrets
//
// Read and list handlers return (nil, nil) when there is nothing at the
// path: core answers that with 404 and an empty "errors" list, as Vault
// does. A deleted or destroyed version is answered with a response whose
// NotFound is set, so the client gets 404 together with the version's
// metadata.
//
// This package imports logical and logical/framework, never core, httpapi
// or testing.
package kv
