length = 32
rule "charset" {
  charset = "!@#$%^&*()"
  min-chars = 2
}
rule "charset" {
  charset = "abcdefghijklmnopqrstuvwxyz0123456789"
}
