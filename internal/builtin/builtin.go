// Package builtin is the one list of what Coffer can mount: secrets engine
// and auth method type names mapped to their factories. The server hands
// these lists to core; nothing registers itself.
package builtin

import (
	"github.com/coffer-secrets/coffer/internal/auth/approle"
	"github.com/coffer-secrets/coffer/internal/auth/awskeys"
	"github.com/coffer-secrets/coffer/internal/auth/cert"
	"github.com/coffer-secrets/coffer/internal/auth/jwt"
	"github.com/coffer-secrets/coffer/internal/auth/kubernetes"
	"github.com/coffer-secrets/coffer/internal/auth/userpass"
	"github.com/coffer-secrets/coffer/internal/engine/cubbyhole"
	"github.com/coffer-secrets/coffer/internal/engine/database"
	"github.com/coffer-secrets/coffer/internal/engine/kv"
	"github.com/coffer-secrets/coffer/internal/engine/pki"
	"github.com/coffer-secrets/coffer/internal/engine/transit"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Engines returns the secrets engine factories by type name.
func Engines() map[string]logical.Factory {
	return map[string]logical.Factory{
		"kv":        kv.Factory,
		"cubbyhole": cubbyhole.Factory,
		"database":  database.Factory,
		"pki":       pki.Factory,
		"transit":   transit.Factory,
	}
}

// AuthMethods returns the auth method factories by type name.
func AuthMethods() map[string]logical.Factory {
	return map[string]logical.Factory{
		"approle":    approle.Factory,
		"awskeys":    awskeys.Factory,
		"cert":       cert.Factory,
		"jwt":        jwt.Factory,
		"oidc":       jwt.Factory, // the JWT part of Vault's oidc method
		"kubernetes": kubernetes.Factory,
		"userpass":   userpass.Factory,
	}
}

// DatabasePlugins returns the names of the database plugins the database
// engine implements, for the plugin catalog.
func DatabasePlugins() []string {
	return []string{database.PluginPostgres, database.PluginMySQL, database.PluginMySQLAurora, database.PluginMySQLRDS, database.PluginMySQLLegacy}
}
