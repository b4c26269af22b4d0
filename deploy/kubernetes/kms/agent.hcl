# The KMS plugin's agent configuration, on each control plane node at
# /etc/coffer/kms/agent.hcl (mode 0600, owned by root). The plugin uses its
# vault block and its auto_auth method; it writes no sink.

vault {
  # Coffer, outside this cluster. Replace with your server's address.
  address = "https://coffer.example.internal:8200"
  ca_cert = "/etc/coffer/kms/ca.crt"
}

auto_auth {
  # An AppRole whose tokens hold the kms-plugin policy: role_id and
  # secret_id are files beside this one (see docs/kubernetes.md).
  # The secret_id file stays: the pod mounts /etc/coffer/kms read-only
  # (removing it would fail every login), and a plugin restarted after a
  # removal could never log in again.
  method "approle" {
    mount_path = "auth/approle"
    config = {
      role_id_file_path                   = "/etc/coffer/kms/role_id"
      secret_id_file_path                 = "/etc/coffer/kms/secret_id"
      remove_secret_id_file_after_reading = false
    }
  }
}
