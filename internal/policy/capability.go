package policy

import (
	"fmt"
	"strings"
)

// Capability is a set of ACL capabilities, one bit each.
type Capability uint16

// The capabilities a path rule can grant. CapDeny overrides every other bit:
// a set containing it grants nothing.
const (
	CapCreate Capability = 1 << iota
	CapRead
	CapUpdate
	CapPatch
	CapDelete
	CapList
	CapSudo
	CapDeny
)

// capAll is every granting capability; a root ACL holds all of them.
const capAll = CapCreate | CapRead | CapUpdate | CapPatch | CapDelete | CapList | CapSudo

// capNames lists the capabilities in the order Vault prints them
// (alphabetical), so Strings can walk it.
var capNames = [...]struct {
	name string
	cap  Capability
}{
	{"create", CapCreate},
	{"delete", CapDelete},
	{"deny", CapDeny},
	{"list", CapList},
	{"patch", CapPatch},
	{"read", CapRead},
	{"sudo", CapSudo},
	{"update", CapUpdate},
}

// capabilityNames is the list given in error messages.
const capabilityNames = "create, read, update, patch, delete, list, sudo, deny"

// Strings returns the names of the capabilities in c, sorted as Vault
// prints them (alphabetically). A set containing CapDeny yields ["deny"]
// alone; the empty set yields nil.
func (c Capability) Strings() []string {
	if c&CapDeny != 0 {
		return []string{"deny"}
	}
	var out []string
	for _, n := range capNames {
		if c&n.cap != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String returns the capability names joined by commas, for messages.
func (c Capability) String() string {
	return strings.Join(c.Strings(), ",")
}

// ParseCapability returns the capability named name ("read", "sudo", ...).
// Names are case-sensitive, as in Vault.
func ParseCapability(name string) (Capability, error) {
	for _, n := range capNames {
		if n.name == name {
			return n.cap, nil
		}
	}
	return 0, fmt.Errorf("unknown capability %q (valid: %s)", name, capabilityNames)
}

// OperationCapability returns the capability a request operation needs:
// "read", "list", "create", "update", "patch" and "delete" map to the
// capability of the same name. It returns 0 for any other operation.
func OperationCapability(op string) Capability {
	switch op {
	case "read":
		return CapRead
	case "list":
		return CapList
	case "create":
		return CapCreate
	case "update":
		return CapUpdate
	case "patch":
		return CapPatch
	case "delete":
		return CapDelete
	}
	return 0
}
