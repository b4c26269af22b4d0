package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// DefaultGCPMountPrefix starts the KV mount of each Google project when
// the gcp_secret_manager block sets no mount_prefix: project P is the
// mount "gcp-P/".
const DefaultGCPMountPrefix = "gcp-"

// GCPSecretManager is the gcp_secret_manager block (a Coffer key): the
// Google Cloud Secret Manager API (gRPC) served on a listener of its
// own, over one KV version 2 mount per project. See
// docs/gcp-secret-manager.md.
type GCPSecretManager struct {
	// Address (address) is the host:port the gRPC listener binds.
	// Required.
	Address string
	// TLSCertFile and TLSKeyFile (tls_cert_file, tls_key_file) are the
	// PEM certificate chain and key the listener serves TLS with; both
	// are required unless TLSDisable is set (or in dev mode).
	TLSCertFile string
	TLSKeyFile  string
	// TLSDisable (tls_disable) serves plain text. Only for a listener on
	// a trusted network: bearer tokens then cross it in the clear.
	TLSDisable bool
	// MountPrefix (mount_prefix) starts each project's KV mount: project
	// P is the mount MountPrefix + P + "/". "gcp-" by default; "" maps a
	// project onto the mount of its own name (project "secret" onto
	// secret/, shared with the Vault and AWS APIs).
	MountPrefix string
}

// gcpSecretManager decodes the gcp_secret_manager block, which has no
// label.
func (d *decoder) gcpSecretManager(b *hclsyntax.Block) *GCPSecretManager {
	if len(b.Labels) != 0 {
		d.ps.add(b.DefRange(), "gcp_secret_manager block takes no label: write gcp_secret_manager { address = \"127.0.0.1:8443\" ... }")
		return nil
	}
	g := &GCPSecretManager{MountPrefix: DefaultGCPMountPrefix}
	d.body(b.Body, schema{
		block:  "gcp_secret_manager",
		prefix: "gcp_secret_manager.",
		fields: map[string]setter{
			"address":       str(&g.Address),
			"tls_cert_file": str(&g.TLSCertFile),
			"tls_key_file":  str(&g.TLSKeyFile),
			"tls_disable":   boolean(&g.TLSDisable),
			"mount_prefix":  str(&g.MountPrefix),
		},
	})
	return g
}

// gcpSecretManager checks the gcp_secret_manager block.
func (v *validator) gcpSecretManager() {
	g := v.c.GCPSecretManager
	if g == nil {
		return
	}
	if g.Address == "" {
		v.errorf("gcp_secret_manager.address", "gcp_secret_manager: address (host:port of the gRPC listener) is required")
	}
	if !g.TLSDisable && (g.TLSCertFile == "" || g.TLSKeyFile == "") {
		v.errorf("gcp_secret_manager", "gcp_secret_manager: set tls_cert_file and tls_key_file (TLS is on by default), or tls_disable = true for plain text")
	}
	if (g.TLSCertFile == "") != (g.TLSKeyFile == "") {
		v.errorf("gcp_secret_manager.tls_cert_file", "gcp_secret_manager: set tls_cert_file and tls_key_file together")
	}
	for _, c := range g.MountPrefix {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./", c)) {
			v.errorf("gcp_secret_manager.mount_prefix", "gcp_secret_manager: mount_prefix %q may hold only letters, digits and -_./", g.MountPrefix)
			break
		}
	}
	if strings.HasPrefix(g.MountPrefix, "/") || strings.HasPrefix(g.MountPrefix, "sys/") || strings.HasPrefix(g.MountPrefix, "auth/") || strings.Contains(g.MountPrefix, "//") {
		v.errorf("gcp_secret_manager.mount_prefix", "gcp_secret_manager: mount_prefix %q must start a KV mount path, such as \"gcp-\"", g.MountPrefix)
	}
}
