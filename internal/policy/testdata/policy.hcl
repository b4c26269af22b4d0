# A policy exercising every key, used by the HCL/JSON equivalence test and
# as a fuzz seed.
path "secret/data/app/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

path "secret/data/app/admin" {
  capabilities = ["deny"]
}

path "secret/+/team-+/config" {
  capabilities        = ["update"]
  allowed_parameters  = { "*" = [], "mode" = ["ro", "rw*"], "size" = [1, 2] }
  denied_parameters   = { "owner" = ["root"] }
  required_parameters = ["mode"]
}

path "sys/wrapping/wrap" {
  capabilities     = ["update"]
  min_wrapping_ttl = "30s"
  max_wrapping_ttl = 300
}

path "auth/token/create" {
  policy = "sudo"
}
