# Every key Coffer knows, set to something other than its default.
storage "bolt" {
  path = "/var/lib/coffer/coffer.db"
}

listener "tcp" {
  address                            = "0.0.0.0:8443"
  tls_cert_file                      = "/etc/coffer/tls.crt"
  tls_key_file                       = "/etc/coffer/tls.key"
  tls_client_ca_file                 = "/etc/coffer/clients.pem"
  tls_require_and_verify_client_cert = true
  tls_min_version                    = "tls13"
}

listener "tcp" {
  address     = "127.0.0.1:8200"
  tls_disable = true
}

api_addr          = "https://coffer.example.com:8443"
log_level         = "debug"
log_format        = "json"
default_lease_ttl = "1h"
max_lease_ttl     = 86400
max_request_size  = 1048576
disable_mlock     = true
ui                = true
