// Package policy parses ACL policies and evaluates requests against them,
// with the semantics of Vault's ACL policies.
//
// # Policies
//
// [Parse] reads a policy written in HCL or JSON: a list of path rules, each
// granting capabilities (create, read, update, patch, delete, list, sudo, or
// deny) and optionally constraining request parameters and response
// wrapping TTLs. A rule's path is exact ("secret/app"), ends in a "*" glob
// that matches any suffix ("secret/app/*", "secret/ap*"), or has "+"
// segments that match exactly one path segment ("secret/+/config",
// "secret/+/app/*"). A path may be templated with the entity's identity
// ("secret/data/{{identity.entity.name}}/*"); [Policy.Resolve] resolves it
// for one [Identity], dropping a rule it cannot resolve or whose value
// could widen the path (a "/", "*", a "+" or ".." segment), where Vault
// would substitute the value verbatim.
//
// # Evaluation
//
// [NewACL] compiles the policies of one token into an [ACL], skipping
// unresolved templated rules. Rules with the
// same path string are merged (capabilities are unioned, a deny anywhere
// wins for that path string). For a request, the single most specific
// matching rule decides: an exact rule beats every wildcard rule; among
// wildcard rules the one whose first wildcard comes latest wins, then a
// rule not ending in "*" beats one that does, then the rule with fewer "+"
// segments, then the longer rule, then the lexicographically greater one.
// A less specific rule never adds to, or takes from, a more specific one:
// a deny on "secret/*" does not stop a read allowed on "secret/app".
// [ACL.Candidates] lists every rule that matches a path in that order, and
// [MergeRules] merges rules as NewACL does, for callers that must explain
// a decision (package access).
//
// # Dependencies and concurrency
//
// The package is pure: no I/O, no logging, no package-level mutable state.
// It imports no other Coffer package; only the standard library and the
// HCL parser. A [Policy] is a plain value; an [ACL] is immutable once built
// and safe for concurrent use.
package policy
