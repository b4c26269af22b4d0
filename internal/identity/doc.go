// Package identity is Coffer's identity store: entities (one per person or
// service), entity aliases (what an auth mount calls an entity), internal
// groups (sets of entities and of other groups that carry policies),
// external groups (whose members come from logins) and group aliases
// (what an auth mount calls an external group). It serves Vault's
// identity/ HTTP API through [Store.HandleRequest], and core calls it
// directly: [Store.LoginEntity] and [Store.LoginGroups] after every
// successful login, [Store.Policies] when computing a token's effective policies and
// [Store.Entity] for token lookups.
//
// # Storage layout
//
// Each object is one JSON record in the store's private, barrier-backed
// storage: "entity/<id>", "alias/<id>", "group/<id>", "group-alias/<id>"
// and "external-membership/<entity id>" (per auth mount accessor, the
// external groups the entity's last login through that mount put it in).
// The name and alias indexes are not stored; [New] loads every record and rebuilds them
// in memory. A group stores its member entities and member groups; the
// reverse edges (an entity's groups, a group's parents) are in-memory
// indexes too. Every change is one storage transaction holding every
// record it touches (for example an entity, its aliases and the groups it
// leaves when it is deleted), and memory is updated only after the
// transaction succeeds, so storage and memory never disagree.
//
// # Concurrency
//
// A [Store] is safe for concurrent use. Writers (API writes, and logins
// that create or change something) are serialised by one mutex, held for
// the whole check-write-apply sequence, which makes name uniqueness and
// first-login entity creation exact. A read-write mutex guards the
// in-memory state; writers hold it only for the brief update of memory
// after their transaction succeeded, never during storage I/O, so reads
// and [Store.Policies] are not held up by a slow storage. Policies answers
// from memory and memoises its answer per entity until the next change.
// The [MountLookup] function is never called while either mutex is held,
// so core may call the store while holding its own mount-table lock.
//
// The in-memory state is this process's alone: a second server sharing the
// storage must call [Store.Reload] after another node changes identity
// records.
//
// This package imports logical and logical/framework, never core, httpapi,
// storage or testing.
package identity
