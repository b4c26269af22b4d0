package policy

// defaultPolicy is the text of the built-in default policy. It lets a token
// look after itself and use its own cubbyhole, and nothing that reaches
// another token's or the server's data.
const defaultPolicy = `# The built-in "default" policy. Coffer attaches it to every token unless the
# token's creator opts out. It may be edited but not deleted.

# A token may see its own properties, ...
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# ... extend its own lifetime ...
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# ... and give itself up.
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# It may ask what it is allowed to do on a path ...
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# ... or across all its policies, as the web UI does.
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

# It may renew and inspect the leases it holds; the lease manager checks
# that the lease belongs to the token.
path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/leases/lookup" {
  capabilities = ["update"]
}

# The older spelling of lease renewal.
path "sys/renew" {
  capabilities = ["update"]
}

# Every token owns a private cubbyhole that dies with it.
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Response wrapping: wrap data of its own, inspect a wrapping token, and
# unwrap one it was handed.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}

# Hashing with the server's tools, with the algorithm in the body or in the
# path.
path "sys/tools/hash" {
  capabilities = ["update"]
}

path "sys/tools/hash/*" {
  capabilities = ["update"]
}
`

// DefaultPolicy returns the HCL text of the built-in default policy, stored
// under [DefaultPolicyName] when a server is initialized. It grants a token
// what it needs to manage itself: look up, renew and revoke itself, query
// its own capabilities and resultant ACL, renew and look up leases, use its
// cubbyhole, wrap, look up and unwrap responses, and hash data.
func DefaultPolicy() string { return defaultPolicy }
