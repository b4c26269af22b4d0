package cert

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// config is the mount's settings, stored at configKey and returned by
// reads as is.
type config struct {
	// DisableBinding is kept for compatibility; it has no effect yet (see
	// the package comment).
	DisableBinding bool `json:"disable_binding"`
	// EnableIdentityAliasMetadata puts the login metadata on the identity
	// alias as well as on the token.
	EnableIdentityAliasMetadata bool `json:"enable_identity_alias_metadata"`
}

// configInput is the body of a config write: only the fields present
// change.
type configInput struct {
	DisableBinding              *framework.Bool `json:"disable_binding"`
	EnableIdentityAliasMetadata *framework.Bool `json:"enable_identity_alias_metadata"`
}

func (b *backend) loadConfig(ctx context.Context) (config, error) {
	var c config
	_, err := framework.GetJSON(ctx, b.storage, configKey, &c)
	return c, err
}

func (b *backend) readConfig(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	c, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: &c}, nil
}

func (b *backend) writeConfig(ctx context.Context, _ *logical.Request, _ *framework.Match, in *configInput) (*logical.Response, error) {
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	c, err := b.loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if in.DisableBinding != nil {
		c.DisableBinding = bool(*in.DisableBinding)
	}
	if in.EnableIdentityAliasMetadata != nil {
		c.EnableIdentityAliasMetadata = bool(*in.EnableIdentityAliasMetadata)
	}
	return nil, framework.PutJSON(ctx, b.storage, configKey, &c)
}
