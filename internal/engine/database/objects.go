package database

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
)

var _ logical.ObjectLister = (*backend)(nil)

// Objects lists the dynamic and static roles, for sys/access/what.
func (b *backend) Objects(ctx context.Context) ([]logical.Object, error) {
	var out []logical.Object
	for _, c := range []struct {
		list         func(context.Context) ([]string, error)
		kind, config string
		use          []string
	}{
		{b.roles.List, "role", "roles/", []string{"creds/"}},
		{b.statics.List, "static-role", "static-roles/", []string{"static-creds/", "rotate-role/"}},
	} {
		names, err := c.list(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			o := logical.Object{Kind: c.kind, Name: n}
			for _, u := range c.use {
				o.Paths = append(o.Paths, u+n)
			}
			o.Paths = append(o.Paths, c.config+n)
			out = append(out, o)
		}
	}
	return out, nil
}
