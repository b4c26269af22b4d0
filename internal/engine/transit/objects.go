package transit

import (
	"context"
	"fmt"

	"github.com/coffer-secrets/coffer/internal/logical"
)

var _ logical.ObjectLister = (*backend)(nil)

// Objects lists the named keys, for sys/access/what.
func (b *backend) Objects(ctx context.Context) ([]logical.Object, error) {
	names, err := b.storage.List(ctx, keyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	out := make([]logical.Object, 0, len(names))
	for _, n := range names {
		out = append(out, logical.Object{Kind: "key", Name: n, Paths: []string{"encrypt/" + n, "decrypt/" + n, "keys/" + n}})
	}
	return out, nil
}
