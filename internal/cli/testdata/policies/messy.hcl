# Messy but valid.
path   "secret/data/app/*"   {
capabilities=["read","list"]
    allowed_parameters = {
  "ttl" = []
      "name"= ["a","b"]
    }
}
path "sys/mounts" { capabilities = ["read"] }
