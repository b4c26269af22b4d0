# A Vault high-availability configuration on PostgreSQL.
api_addr     = "https://vault-1.example.com:8200"
cluster_addr = "https://vault-1.example.com:8201"

storage "postgresql" {
  connection_url       = "postgres://vault:pw@db.example.com:5432/vault?sslmode=verify-full"
  table                = "vault_kv_store"
  ha_enabled           = "true"
  ha_table             = "vault_ha_locks"
  max_idle_connections = 10
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_cert_file   = "/etc/vault/tls.crt"
  tls_key_file    = "/etc/vault/tls.key"
}
