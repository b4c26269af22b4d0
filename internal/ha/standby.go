package ha

import (
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// StandbySys reports whether a standby serves op on the sys/ path rel
// (without "sys/") itself: the checks that only read the policies and
// tokens every node has loaded, writing nothing. The capability checks
// (sys/capabilities, -self, -accessor), sys/policies/test, policy reads
// and lists (sys/policy, sys/policies/acl) and the caller's resultant ACL.
// Everything else under sys/ goes to the active node. As with
// [StandbyRead], the server applies it only while [Node.ServesReads], and
// its pipeline still forwards a request whose token has limited uses.
func StandbySys(op logical.Operation, rel string) bool {
	switch rel {
	case "capabilities", "capabilities-self", "capabilities-accessor", "policies/test":
		return op == logical.UpdateOperation
	case "policy", "policy/":
		return op == logical.ReadOperation || op == logical.ListOperation
	case "policies/acl", "policies/acl/":
		return op == logical.ListOperation
	case "internal/ui/resultant-acl":
		return op == logical.ReadOperation
	}
	if name, ok := strings.CutPrefix(rel, "policy/"); ok && name != "" {
		return op == logical.ReadOperation
	}
	if name, ok := strings.CutPrefix(rel, "policies/acl/"); ok && name != "" {
		return op == logical.ReadOperation
	}
	return false
}
