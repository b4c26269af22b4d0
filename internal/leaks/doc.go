// Package leaks keeps the live-secret fingerprint index that
// sys/leaks/check answers from: for every string value of every KV secret
// (each retained version) and every database static role password, a
// keyed fingerprint, HMAC-SHA256(index key, SHA-256(value)) truncated to
// 16 bytes, mapped to where the value lives (mount, path, field, version,
// whether that version is current). The index never holds a value; the
// index key is 32 random bytes kept behind the barrier (in the storage
// core hands it), made on first use.
//
// # Building and keeping up
//
// The index is built lazily, by the first check after unseal: it walks
// every mount whose backend is a [logical.ValueSource], one secret at a
// time, holding only its own lock (never core's). The work (a build, and
// each later refresh) runs in a goroutine of the index's own, not in the
// check's: a check waits for it with its own context, at most
// [Options.MaxWait], and otherwise answers [ErrBuilding] (503) while the
// build goes on, so a build is never thrown away and begun again because
// callers give up. [Index.Reset] cancels it and waits for its end. From
// the start of that build, the mounts report every changed secret through
// [Index.ValuesChanged] (core wires each mount's [logical.ValueObserver]
// to it); a change only marks the secret as pending, and the next check
// reads each pending secret again before it answers, so an answer always
// reflects every write that completed before the check began. Pending
// changes are bounded ([Options.MaxPending]): past that, the index drops
// itself and the next check builds it again. Mounts that appear, move or
// go are followed at each check by comparing the mount list.
//
// The index lives in the active node's memory only; a standby forwards
// sys/leaks/check to the active node (as every sys/ request), and a node
// that seals or changes role drops its index ([Index.Reset]).
//
// Memory is about 220 bytes per indexed value, 22 MB per 100,000 (see
// docs/performance.md).
//
// # Concurrency
//
// An [Index] is safe for concurrent use. Refreshes and lookups are
// serialised by one lock; ValuesChanged takes only a small one and never
// blocks on storage.
//
// # Bounds
//
// A secret holds each fingerprint once per version (a value repeated in
// many fields is indexed under its first field); the places of a
// fingerprint are kept in a map keyed by secret and version, so taking a
// secret out costs a few map operations per value; a check returns at
// most [MaxPlaces] places per value.
//
// leaks imports only internal/logical.
package leaks
