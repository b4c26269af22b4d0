storage "postgresql" {
  connection_url = "postgres://coffer:s3cret@db.internal:5432/coffer?sslmode=verify-full"
  table          = "coffer.kv"
  ha_enabled     = "true"
  max_parallel   = "16"
}

listener "tcp" {
  address = "[::1]:8200"
}
