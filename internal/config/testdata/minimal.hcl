storage "inmem" {}
listener "tcp" {}
