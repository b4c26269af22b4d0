package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// DefaultAzureMount is the azure_key_vault block's default mount.
const DefaultAzureMount = "secret/"

// AzureKeyVault is the azure_key_vault block (a Coffer key): the Azure
// Key Vault secrets REST API served under /secrets and /deletedsecrets on
// every listener, over one KV version 2 mount, for requests carrying a
// Coffer token as their bearer token (docs/azure-key-vault.md).
type AzureKeyVault struct {
	// Mount (mount) is the KV version 2 mount holding the secrets, such
	// as "secret/" (the default).
	Mount string
	// Enabled (enabled) serves the API: true unless the block sets
	// enabled = false, so that a block can stay in a file turned off.
	Enabled bool
}

// azureKeyVault decodes the azure_key_vault block, which has no label.
func (d *decoder) azureKeyVault(b *hclsyntax.Block) *AzureKeyVault {
	if len(b.Labels) != 0 {
		d.ps.add(b.DefRange(), "azure_key_vault block takes no label: write azure_key_vault { mount = \"secret/\" }")
		return nil
	}
	a := &AzureKeyVault{Enabled: true}
	d.body(b.Body, schema{
		block:  "azure_key_vault",
		prefix: "azure_key_vault.",
		fields: map[string]setter{
			"mount":   str(&a.Mount),
			"enabled": boolean(&a.Enabled),
		},
	})
	return a
}

// defaults fills in the keys left empty; a nil block stays nil.
func (a *AzureKeyVault) defaults() {
	if a == nil {
		return
	}
	if a.Mount == "" {
		a.Mount = DefaultAzureMount
	}
	a.Mount = strings.Trim(a.Mount, "/") + "/"
}

// azureKeyVault checks the azure_key_vault block.
func (v *validator) azureKeyVault() {
	a := v.c.AzureKeyVault
	if a == nil {
		return
	}
	if a.Mount == "/" || strings.HasPrefix(a.Mount, "sys/") || strings.HasPrefix(a.Mount, "auth/") {
		v.errorf("azure_key_vault.mount", "azure_key_vault: mount %q must be the path of a KV version 2 mount, such as \"secret/\"", a.Mount)
	}
}

// AzureServed reports whether the Azure Key Vault API is served.
func (c *Config) AzureServed() bool {
	return c.AzureKeyVault != nil && c.AzureKeyVault.Enabled
}
