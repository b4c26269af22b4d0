// Package access answers the access-visibility questions of issue 14:
// who can reach a path, and (later) what a principal can reach.
//
// This first layer works on policies alone. An [Index] over a set of named
// ACL policies answers, for a concrete path and capability, which
// policies grant it and with which rule, which policies deny it, and which
// hold a more specific rule that grants something else (and so would
// shadow a grant of a less specific rule in a token holding both).
// [Answer.For] then decides for any subset of those policies, as a
// token's ACL built from that subset would decide.
//
// The package never matches paths itself: the ranking of matching rules
// comes from [policy.ACL.Candidates] and merging from [policy.MergeRules],
// so the answers follow exactly the evaluation that [policy.ACL.Check]
// uses.
//
// Templated policy paths ({{identity...}}) depend on the entity. An index
// leaves such rules out and reports their policy in [Answer.Templated],
// so that a caller can say the answer depends on the entity.
// [Index.ForEntity] resolves them for one entity with
// [policy.Policy.Resolve], exactly as core resolves them when it builds
// the ACL of that entity's tokens; [Identities] turns a [Directory]'s
// entity (name, metadata, aliases, direct and inherited groups) into the
// [policy.Identity] templates read.
//
// The package is pure: no I/O, no logging, no package-level mutable state.
// An Index is immutable once built and safe for concurrent use.
package access
