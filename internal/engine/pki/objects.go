package pki

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
)

var _ logical.ObjectLister = (*Backend)(nil)

// Objects lists the roles, for sys/access/what.
func (b *Backend) Objects(ctx context.Context) ([]logical.Object, error) {
	names, err := b.roles.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]logical.Object, 0, len(names))
	for _, n := range names {
		out = append(out, logical.Object{Kind: "role", Name: n, Paths: []string{"issue/" + n, "sign/" + n, "roles/" + n}})
	}
	return out, nil
}
