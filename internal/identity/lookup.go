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

// lookupEntity serves POST lookup/entity. Nothing found is answered with
// no data (204), as Vault does.
func (s *Store) lookupEntity(_ context.Context, _ *logical.Request, _ *framework.Match, in *lookupInput) (*logical.Response, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var id string
	switch {
	case in.ID != "":
		id = in.ID
	case in.Name != "":
		id = s.st.entityByName[in.Name]
	case in.AliasID != "":
		if a := s.st.aliases[in.AliasID]; a != nil {
			id = a.CanonicalID
		}
	default:
		if a := s.st.aliases[s.st.aliasByKey[aliasKey(in.AliasMountAccessor, in.AliasName)]]; a != nil {
			id = a.CanonicalID
		}
	}
	s.mu.RUnlock()
	if id == "" {
		return nil, nil
	}
	return s.entityResponse(id), nil
}

// lookupGroup serves POST lookup/group; the alias criteria find an
// external group by its group alias.
func (s *Store) lookupGroup(_ context.Context, _ *logical.Request, _ *framework.Match, in *lookupInput) (*logical.Response, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var id string
	switch {
	case in.ID != "":
		id = in.ID
	case in.Name != "":
		id = s.st.groupByName[in.Name]
	case in.AliasID != "":
		if a := s.st.groupAliases[in.AliasID]; a != nil {
			id = a.CanonicalID
		}
	default:
		if a := s.st.groupAliases[s.st.groupAliasByKey[aliasKey(in.AliasMountAccessor, in.AliasName)]]; a != nil {
			id = a.CanonicalID
		}
	}
	s.mu.RUnlock()
	if id == "" {
		return nil, nil
	}
	return s.groupResponse(id), nil
}
