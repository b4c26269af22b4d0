// Package builtin is the one list of what Coffer can mount: secrets engine
// type names mapped to their factories. The server hands this list to
// core; nothing registers itself.
package builtin

import (
	"github.com/coffer-secrets/coffer/internal/engine/kv"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Engines returns the secrets engine factories by type name.
func Engines() map[string]logical.Factory {
	return map[string]logical.Factory{
		"kv": kv.Factory,
	}
}
