// Package jepsen holds a Jepsen-style test of a Coffer cluster: three
// `coffer server` processes on one PostgreSQL database, each reaching it
// through a TCP proxy the test can cut, clients doing KV version 2 reads
// and check-and-set writes on every node while a nemesis kills, pauses and
// isolates nodes, and checks of the recorded history: linearizability of
// each key (with github.com/anishathalye/porcupine), read-your-writes for
// clients that send X-Vault-Index, revoked tokens refused on every node,
// and every acknowledged write readable at the end. It also holds the
// cluster read benchmark that drives tools/loadgen against one, two and
// three nodes.
//
// The default run is bounded (about a minute); COFFER_JEPSEN_DURATION sets
// the length of the workload for long runs (scripts/adversarial --only
// jepsen). It has no code of its own.
package jepsen
