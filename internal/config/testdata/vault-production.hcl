# A Vault production configuration as its documentation and tutorials
# write it, with Shamir key shares (the default seal, written out).
ui            = true
disable_mlock = true
cluster_name  = "prod-east"
api_addr      = "https://vault.example.com:8200"
cluster_addr  = "https://10.0.0.5:8201"

plugin_directory             = "/etc/vault/plugins"
log_level                    = "info"
default_lease_ttl            = "768h"
max_lease_ttl                = "8760h"
default_max_request_duration = "90s"
pid_file                     = "/run/vault/vault.pid"

storage "file" {
  path = "/opt/vault/data"
}

listener "tcp" {
  address                            = "0.0.0.0:8200"
  cluster_address                    = "0.0.0.0:8201"
  tls_cert_file                      = "/opt/vault/tls/tls.crt"
  tls_key_file                       = "/opt/vault/tls/tls.key"
  tls_client_ca_file                 = "/opt/vault/tls/ca.crt"
  tls_min_version                    = "tls12"
  tls_cipher_suites                  = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
  tls_prefer_server_cipher_suites    = true
  tls_require_and_verify_client_cert = false
  max_request_size                   = 33554432

  x_forwarded_for_authorized_addrs      = "10.0.0.0/8"
  x_forwarded_for_hop_skips             = "0"
  x_forwarded_for_reject_not_authorized = "true"
  x_forwarded_for_reject_not_present    = "false"

  telemetry {
    unauthenticated_metrics_access = true
  }
}

seal "shamir" {}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
  statsd_address            = "statsd.example.com:8125"
}

service_registration "kubernetes" {
  namespace = "vault"
}
