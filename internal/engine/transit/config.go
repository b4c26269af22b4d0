package transit

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// configKeysPath is where the mount-wide key settings live in storage.
const configKeysPath = "config/keys"

// keysConfig is the mount-wide key settings of config/keys.
type keysConfig struct {
	// DisableUpsert stops encrypt from creating a key that does not
	// exist, even for a caller allowed to create it.
	DisableUpsert bool `json:"disable_upsert"`
}

// configKeysInput is the body of a config/keys write; an absent field
// keeps its value.
type configKeysInput struct {
	DisableUpsert *framework.Bool `json:"disable_upsert"`
}

// keysConfig reads the mount-wide key settings; they are read from
// storage on each use, which only the rare encryption with a missing key
// does.
func (b *backend) keysConfig(ctx context.Context) (*keysConfig, error) {
	var c keysConfig
	if _, err := framework.GetJSON(ctx, b.storage, configKeysPath, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (b *backend) readConfigKeys(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	c, err := b.keysConfig(ctx)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: c}, nil
}

func (b *backend) writeConfigKeys(ctx context.Context, _ *logical.Request, _ *framework.Match, in *configKeysInput) (*logical.Response, error) {
	c, err := b.keysConfig(ctx)
	if err != nil {
		return nil, err
	}
	if in.DisableUpsert != nil {
		c.DisableUpsert = bool(*in.DisableUpsert)
	}
	if err := framework.PutJSON(ctx, b.storage, configKeysPath, c); err != nil {
		return nil, err
	}
	return &logical.Response{Data: c}, nil
}
