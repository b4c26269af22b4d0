// Package host serves sys/host-info (sudo, as in Vault): the machine's
// CPUs, CPU times, disks, host and memory, from [hostinfo.Collect]. Parts
// the system does not tell are empty and named in the warnings. It
// imports no core package.
package host

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/hostinfo"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Paths returns sys/host-info, relative to sys/; clock stamps the answer.
func Paths(clock logical.Clock) []*framework.Path {
	return []*framework.Path{{
		Pattern: `host-info`,
		Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
			info, errs := hostinfo.Collect(clock.Now().UTC())
			return &logical.Response{Data: info, Warnings: errs}, nil
		}},
		Synopsis: "Describe the machine the server runs on.",
	}}
}
