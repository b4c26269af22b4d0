package core

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/hostinfo"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// hostInfoPaths serve sys/host-info (sudo, as in Vault): the machine's
// CPUs, CPU times, disks, host and memory, from [hostinfo.Collect]. Parts
// the system does not tell are empty and named in the warnings.
func (c *Core) hostInfoPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    `host-info`,
		Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysHostInfo},
		Synopsis:   "Describe the machine the server runs on.",
	}}
}

func (c *Core) sysHostInfo(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	info, errs := hostinfo.Collect(c.now())
	return &logical.Response{Data: info, Warnings: errs}, nil
}
