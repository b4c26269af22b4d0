// Package postgres is a [storage.Storage] in a PostgreSQL database, shared by
// several Coffer nodes for high availability, together with the primitives
// that make sharing it safe: leader election ([Elector]), write fencing
// ([Fence], [ErrFenced]) and change notification ([Storage.Notify],
// [Storage.Listen]).
//
// # Schema
//
// [Open] creates, on first start, the tables below (T is [Options].Table,
// "coffer_kv" by default), in the connection's current schema, in one
// transaction serialised by an advisory lock so that nodes starting together
// do not race:
//
//   - T(dir bytea, name bytea, value bytea, PRIMARY KEY (dir, name)): a key
//     is stored split at its last "/", so dir is "" or ends in "/". Keys are
//     bytea, not text, because storage keys are arbitrary bytes (a UTF8
//     database rejects invalid UTF-8 in text) and bytea compares bytewise,
//     which is the order List promises.
//   - T_ha: one row holding the leadership epoch and the current leader's
//     node ID and address.
//   - T_lease: one row holding the leader's lease: its epoch, the pid of
//     the session holding the election lock, and when it last renewed
//     (the database's now()).
//   - T_schema_version: one row holding the schema version. A version newer
//     than this code knows makes Open fail with [ErrSchemaTooNew] without
//     touching anything.
//   - T_check_fence(bigint): a function that raises SQLSTATE CF001 when the
//     epoch in T_ha is not its argument; fenced writes call it first.
//
// # Claim
//
// Every open Storage holds a session-level advisory lock on a dedicated
// connection until Close: shared by default, so servers open the tables
// side by side, or exclusive with [Options].Exclusive (`coffer operator
// migrate` opens its source and destination so). Open fails with
// [ErrInUse] when the claims conflict: no migration starts while a server
// has the tables open, and no server starts during a migration. A
// session that ends frees its claim, so a crashed process leaves nothing
// to clean up.
//
// # Listing
//
// List costs one index range scan for the keys directly under the prefix
// (they share one dir) plus one index probe per sub-folder reported (a
// recursive query that skips from one folder to the next, as the bolt
// storage seeks), so it stays fast however many keys live deeper.
//
// # High availability
//
// Nodes elect a leader with [Elector.Acquire]: a session-level advisory
// lock on a dedicated connection, then an increment of the epoch in T_ha.
// The leader passes [Leadership.Fence] to [Storage.SetFence], so each of
// its writes checks, in its own transaction and under a share lock on the
// epoch row, that no later election happened; a deposed leader's writes
// fail with [ErrFenced] and change nothing, whether or not it has noticed
// yet. [Leadership.Lost] is the prompt notice: it closes when the
// dedicated connection fails a check (every 500 ms by default), which for
// a silent network is seconds before PostgreSQL drops the session and
// frees the lock (see the keepalive settings in elect.go). A leader that
// stops running while its session lives on (a paused process) is replaced
// through its lease: it renews T_lease every PingInterval, and a
// candidate ends the session of a leader whose last renewal is older than
// [ElectorOptions].LeaseTTL by the database's clock; [Leadership.ValidUntil]
// tells the leader, by its own monotonic clock, when to stop acting as
// leader, which is before any candidate may take over. Standbys find
// the leader with [Storage.CurrentLeader] and learn of changes through
// [Storage.Listen].
//
// # Durability and atomicity
//
// Every write is one PostgreSQL transaction, sent as one pipeline (an
// implicit transaction), and returns after its commit. Connections that
// find synchronous_commit off turn it on for themselves, so a write that
// returned nil survives a crash of the database server.
//
// # Concurrency
//
// A [Storage] is safe for concurrent use; it holds a pool of at most
// [Options].MaxParallel connections. Leadership and listening each hold a
// dedicated connection of their own, outside the pool.
//
// This package imports only storage, the standard library and pgx. It never
// logs or returns the connection URL's password.
package postgres
