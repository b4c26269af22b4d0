package access

import "github.com/coffer-secrets/coffer/internal/policy"

// Identities resolves the entities of a [Directory] into what templated
// policies read of them, for [Index.ForEntity] and
// [policy.Policy.Resolve]. Build one with [NewIdentities]; it is
// immutable and safe for concurrent use.
type Identities struct {
	entities map[string]*Entity
	groups   map[string]*Group
}

// NewIdentities indexes d's entities and groups. It keeps pointers into
// d's slices: do not modify them while the Identities is in use.
func NewIdentities(d *Directory) *Identities {
	r := &Identities{
		entities: make(map[string]*Entity, len(d.Entities)),
		groups:   make(map[string]*Group, len(d.Groups)),
	}
	for i := range d.Entities {
		r.entities[d.Entities[i].ID] = &d.Entities[i]
	}
	for i := range d.Groups {
		r.groups[d.Groups[i].ID] = &d.Groups[i]
	}
	return r
}

// Of returns the identity of entity id, as core resolves the templated
// policies of that entity's tokens: its name, metadata, aliases, and the
// groups of its GroupIDs (direct and inherited). It returns nil for an
// unknown entity, which resolves no template. The maps of the result are
// shared with the directory: read them, do not modify them.
func (r *Identities) Of(id string) *policy.Identity {
	e := r.entities[id]
	if e == nil {
		return nil
	}
	out := &policy.Identity{EntityID: e.ID, EntityName: e.Name, Metadata: e.Metadata}
	for _, a := range e.Aliases {
		out.Aliases = append(out.Aliases, policy.IdentityAlias{
			MountAccessor: a.MountAccessor, ID: a.ID, Name: a.Name,
			Metadata: a.Metadata, CustomMetadata: a.CustomMetadata,
		})
	}
	for _, gid := range e.GroupIDs {
		if g := r.groups[gid]; g != nil {
			out.Groups = append(out.Groups, policy.IdentityGroup{ID: g.ID, Name: g.Name, Metadata: g.Metadata})
		}
	}
	return out
}
