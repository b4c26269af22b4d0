length = 20

rule "charset" {
  charset   = "abcdefghijklmnopqrstuvwxyz"
  min-chars = 1
}

rule "charset" {
  charset   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
  min-chars = 1
}

rule "charset" {
  charset   = "0123456789"
  min-chars = 1
}

rule "charset" {
  charset   = "-"
  min-chars = 1
}
