package config

import (
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Defaults of the aws_secrets_manager block.
const (
	DefaultAWSMount     = "secret/"
	DefaultAWSAuthMount = "auth/awskeys/"
	DefaultAWSAccountID = "000000000000"
)

// AWSSecretsManager is the aws_secrets_manager block (a Coffer key): the
// AWS Secrets Manager API served at POST / on every listener, over one
// KV version 2 mount, for requests signed with keys of an awskeys auth
// method.
type AWSSecretsManager struct {
	// Mount (mount) is the KV version 2 mount holding the secrets, such
	// as "secret/" (the default).
	Mount string
	// AuthMount (auth_mount) is the awskeys auth method whose access keys
	// sign requests, "auth/awskeys/" by default.
	AuthMount string
	// AccountID (account_id) is the 12-digit account ID in the ARNs
	// Coffer answers, "000000000000" by default.
	AccountID string
}

// awsSecretsManager decodes the aws_secrets_manager block, which has no
// label.
func (d *decoder) awsSecretsManager(b *hclsyntax.Block) *AWSSecretsManager {
	if len(b.Labels) != 0 {
		d.ps.add(b.DefRange(), "aws_secrets_manager block takes no label: write aws_secrets_manager { mount = \"secret/\" }")
		return nil
	}
	a := &AWSSecretsManager{}
	d.body(b.Body, schema{
		block:  "aws_secrets_manager",
		prefix: "aws_secrets_manager.",
		fields: map[string]setter{
			"mount":      str(&a.Mount),
			"auth_mount": str(&a.AuthMount),
			"account_id": str(&a.AccountID),
		},
	})
	return a
}

// defaults fills in the keys left empty; a nil block stays nil.
func (a *AWSSecretsManager) defaults() {
	if a == nil {
		return
	}
	if a.Mount == "" {
		a.Mount = DefaultAWSMount
	}
	if a.AuthMount == "" {
		a.AuthMount = DefaultAWSAuthMount
	}
	if a.AccountID == "" {
		a.AccountID = DefaultAWSAccountID
	}
	a.Mount = strings.Trim(a.Mount, "/") + "/"
	a.AuthMount = strings.Trim(a.AuthMount, "/") + "/"
	if !strings.HasPrefix(a.AuthMount, "auth/") {
		a.AuthMount = "auth/" + a.AuthMount
	}
}

// awsSecretsManager checks the aws_secrets_manager block.
func (v *validator) awsSecretsManager() {
	a := v.c.AWSSecretsManager
	if a == nil {
		return
	}
	if a.Mount == "/" || strings.HasPrefix(a.Mount, "sys/") || strings.HasPrefix(a.Mount, "auth/") {
		v.errorf("aws_secrets_manager.mount", "aws_secrets_manager: mount %q must be the path of a KV version 2 mount, such as \"secret/\"", a.Mount)
	}
	if a.AuthMount == "auth//" || a.AuthMount == "auth/" {
		v.errorf("aws_secrets_manager.auth_mount", "aws_secrets_manager: auth_mount %q must name an awskeys auth method, such as \"auth/awskeys/\"", a.AuthMount)
	}
	ok := len(a.AccountID) == 12
	for _, c := range a.AccountID {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		v.errorf("aws_secrets_manager.account_id", "aws_secrets_manager: account_id must be 12 digits")
	}
}
