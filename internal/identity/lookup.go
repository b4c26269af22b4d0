package identity

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// lookupInput is the body of lookup/entity and lookup/group: exactly one
// criterion, where alias_name goes with alias_mount_accessor. Empty
// strings count as absent.
type lookupInput struct {
	Name               string `json:"name"`
	ID                 string `json:"id"`
	AliasID            string `json:"alias_id"`
	AliasName          string `json:"alias_name"`
	AliasMountAccessor string `json:"alias_mount_accessor"`
}

func (in *lookupInput) validate() error {
	if (in.AliasName == "") != (in.AliasMountAccessor == "") {
		return logical.InvalidRequest("alias_name and alias_mount_accessor must be given together")
	}
	n := 0
	for _, v := range []string{in.Name, in.ID, in.AliasID, in.AliasName} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return logical.InvalidRequest("give exactly one of name, id, alias_id, or alias_name with alias_mount_accessor")
	}
	return nil
}

// lookup serves POST lookup/<noun>: it finds the entity or group by ID,
// name, alias ID, or alias name and mount accessor (for groups, their
// group alias). Nothing found is answered with no data (204), as Vault
// does.
func (k *kind[R, In, F]) lookup(s *Store) framework.TypedHandler[lookupInput] {
	return func(_ context.Context, _ *logical.Request, _ *framework.Match, in *lookupInput) (*logical.Response, error) {
		if err := in.validate(); err != nil {
			return nil, err
		}
		s.mu.RLock()
		var id string
		switch {
		case in.ID != "":
			id = in.ID
		case in.Name != "":
			id = k.byName()[in.Name]
		case in.AliasID != "":
			id = k.aliasOwner(in.AliasID)
		default:
			id = k.aliasOwner(k.aliasByKey()[aliasKey(in.AliasMountAccessor, in.AliasName)])
		}
		s.mu.RUnlock()
		if id == "" {
			return nil, nil
		}
		return k.response(id), nil
	}
}

// readRecord answers a read of records()[id], rendered by render without
// the lock (rendering may call the mount lookup); nil means not found.
// records reads the state, under s.mu.
func readRecord[T any](s *Store, records func() map[string]*T, id string, render func(*T) any) *logical.Response {
	s.mu.RLock()
	r := records()[id]
	s.mu.RUnlock()
	if r == nil {
		return nil
	}
	return &logical.Response{Data: render(r)}
}
