// Package ha makes a Coffer server one node of a cluster: several servers
// share one physical storage; one is active, the others are standbys. It
// holds the election loop, the change notices, the cluster membership, the
// cluster TLS, the rule of which requests a standby serves itself, and the
// sys/step-down and sys/ha-status handlers. It must not import core,
// httpapi or server.
//
// A [Node] belongs to a server (core), which it reaches only through the
// [Host] interface it declares: the server loads and drops its state when
// asked, and the node decides when. The server asks the node the questions
// its pipeline needs (standby? leader? forward target?).
//
// A server with a node unseals into standby: its barrier is open, and it
// loads the mount table, policies, the token salt and the identity store
// without writing anything, so that it can serve side-effect-free reads
// ([StandbyRead]). [Node.Start], called at unseal, starts the goroutines
// that compete for leadership ([Backend.Acquire]); the winner tears its
// standby state down, reloads the keyring and loads everything as a single
// server does at unseal (mounts, policies, leases with their expiry
// timers, audit devices, the token sweeper and the backends' periodic
// work). The lease manager and the token sweeper run only there: a standby
// never revokes.
//
// When leadership is lost ([Leadership.Lost]: the node's database session
// failed), the node marks itself standby at once, before anything else, so
// that new requests and writes already in flight are refused with
// [ErrStandby] (and forwarded by the HTTP layer), then tears the active
// state down and loads the standby state again. Its writes are fenced in
// storage as well, so a node that has not noticed yet cannot write.
// A term may carry a lease ([Leadership.ValidUntil]): once it lapses the
// node answers as a standby at once, before Lost closes (a process that
// was paused resumes with a lapsed lease), and the election loop steps
// down (lease.go).
//
// The active node's writes go through [Physical], which collects the
// physical keys each committed write touched and notifies the other nodes
// ([Backend.Notify] on [InvalidateChannel], keys separated by newlines, "*"
// for everything when the list would be too long); standbys hand the keys
// to [Host.InvalidateLocked], which maps each key to the cache it feeds.
// Notices are numbered (index.go): a standby knows the index it has
// applied, serves only while it holds a read lease from the active node
// (readlease.go), and [Node.WaitApplied] holds a revocation until no
// standby can serve the state before it. The X-Vault-Index states clients
// send back are checked in state.go.
//
// # Concurrency
//
// All exported methods of [Node] are safe for concurrent use. Role changes
// hold the server's state lock ([Env.State]) for writing, so that a request
// (which holds it for reading) sees either the old role's state or the new
// one's, never a mix.
package ha
