package core

import (
	"github.com/coffer-secrets/coffer/internal/identity"
	"github.com/coffer-secrets/coffer/internal/policy"
	"github.com/coffer-secrets/coffer/internal/sys/policies"
)

// identityEntities is the identity store as [policies.Entities]: what
// templated policies are resolved against.
type identityEntities struct{ s *identity.Store }

func (e identityEntities) Version() uint64 { return e.s.Version() }

func (e identityEntities) Identity(id string) (*policy.Identity, uint64) {
	t, v := e.s.TemplateEntity(id)
	return templateIdentity(t), v
}

// entities returns the identity store as [policies.Entities], or nil
// while there is none. The caller holds stateMu.
func (c *Core) entities() policies.Entities {
	if c.identity == nil {
		return nil
	}
	return identityEntities{c.identity}
}

// templateIdentity converts the identity store's view of an entity.
func templateIdentity(t *identity.TemplateEntity) *policy.Identity {
	if t == nil {
		return nil
	}
	out := &policy.Identity{EntityID: t.ID, EntityName: t.Name, Metadata: t.Metadata}
	for _, a := range t.Aliases {
		out.Aliases = append(out.Aliases, policy.IdentityAlias{
			MountAccessor: a.MountAccessor, ID: a.ID, Name: a.Name,
			Metadata: a.Metadata, CustomMetadata: a.CustomMetadata,
		})
	}
	for _, g := range t.Groups {
		out.Groups = append(out.Groups, policy.IdentityGroup{ID: g.ID, Name: g.Name, Metadata: g.Metadata})
	}
	return out
}
