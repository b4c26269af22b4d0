path "secret/*" {
  capabilities = ["read"
}
