pid_file = "/run/agent.pid"
exit_after_auth = false

vault {
  address = "http://127.0.0.1:8200"
  tls_skip_verify = "false"
  retry {
    num_retries = 5
  }
}

auto_auth {
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "/etc/agent/role_id"
      secret_id_file_path                 = "/etc/agent/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = {
      path = "/tmp/token"
      mode = 0600
    }
  }
  sink "file" {
    wrap_ttl = "5m"
    config = {
      path = "/tmp/wrapped"
    }
  }
}

template_config {
  static_secret_render_interval = "10s"
  exit_on_retry_failure         = true
}

template {
  source      = "/etc/agent/db.tmpl"
  destination = "/etc/app/db.env"
  perms       = "0640"
  command     = "systemctl reload app"
  error_on_missing_key = true
}

template {
  contents    = "[[ with secret \"secret/data/app\" ]][[ .Data.data.x ]][[ end ]]"
  destination = "/etc/app/x"
  left_delimiter  = "[["
  right_delimiter = "]]"
  command = ["/usr/bin/touch", "/tmp/marker"]
}

listener "tcp" {
  address     = "127.0.0.1:8100"
  tls_disable = true
}

api_proxy {
  use_auto_auth_token = true
}

exec {
  command                   = ["/usr/bin/app", "--serve"]
  restart_on_secret_changes = "always"
  restart_stop_signal       = "SIGINT"
}

env_template "DB_PASSWORD" {
  contents             = "{{ with secret \"secret/data/db\" }}{{ .Data.data.password }}{{ end }}"
  error_on_missing_key = true
}
