// Package config reads the agent's HCL configuration file, which has the
// shape of Vault Agent's so that existing files work unchanged: vault,
// auto_auth (method and sink blocks), template, template_config, listener,
// api_proxy, cache, exec, env_template, pid_file and exit_after_auth.
//
// The file is parsed by walking the hclsyntax tree; an unknown key or block
// is an error naming the file, the line and the key. [Parse] applies the
// defaults and validates everything at once, returning every problem joined.
// The returned [Config] is read-only afterwards.
//
// The package imports nothing of Coffer's and starts no goroutines.
package config
