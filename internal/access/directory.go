package access

import (
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// Directory is a snapshot of everything that can hold policies: the auth
// methods' principals, identity entities and groups, and live tokens. Core
// builds it; the answers of this package read it. It never holds a token
// ID, a secret ID, a password hash or any other credential.
type Directory struct {
	// Mounts are the auth mounts whose method lists principals.
	Mounts []AuthMount
	// Entities are the identity entities.
	Entities []Entity
	// Groups are the identity groups, internal and external.
	Groups []Group
	// Tokens are the live service and root tokens (batch tokens are not
	// stored and cannot be listed). For a large store core may fill it
	// lazily; see [TokenSource].
	Tokens TokenSource
}

// AuthMount is one auth method mount and its principals.
type AuthMount struct {
	// Path is the mount path, "auth/approle/".
	Path string
	// Type is the method type, "approle".
	Type string
	// Accessor is the mount accessor, as entity aliases name it.
	Accessor string
	// Principals are the method's roles, users or certificates.
	Principals []logical.Principal
}

// Entity is an identity entity.
type Entity struct {
	ID       string
	Name     string
	Disabled bool
	// Policies are the entity's own policies.
	Policies []string
	// Metadata is the entity's metadata (templated policies read it).
	Metadata map[string]string
	// Aliases are the entity's aliases.
	Aliases []Alias
	// GroupIDs are the groups the entity belongs to directly or through
	// nested groups (every ancestor), sorted.
	GroupIDs []string
	// IdentityPolicies are the policies the entity adds to every token
	// it holds: its own and those of every group in GroupIDs, sorted and
	// without duplicates.
	IdentityPolicies []string
}

// Alias is an entity alias: a name at one auth mount.
type Alias struct {
	ID            string
	Name          string
	MountAccessor string
	MountPath     string
	Metadata      map[string]string
	// CustomMetadata is the alias's custom metadata (templated policies
	// read it).
	CustomMetadata map[string]string
}

// Group is an identity group.
type Group struct {
	ID   string
	Name string
	// Type is "internal" or "external".
	Type     string
	Policies []string
	// MemberEntityIDs are the direct member entities.
	MemberEntityIDs []string
	// ParentGroupIDs are the groups this group is a direct member of.
	ParentGroupIDs []string
	// AliasName and AliasMountAccessor are an external group's alias.
	AliasName          string
	AliasMountAccessor string
	Metadata           map[string]string
}

// Token describes a live token without its ID.
type Token struct {
	Accessor    string
	DisplayName string
	EntityID    string
	// Policies are the token's own policies (identity policies come from
	// its entity).
	Policies []string
	// Path is the route that made it: "auth/token/create",
	// "auth/approle/login", ...
	Path          string
	MountAccessor string
	// Role is the token role it was created with, if any.
	Role         string
	Type         string
	CreationTime time.Time
	// ExpireTime is zero for a token that never expires.
	ExpireTime time.Time
	NumUses    int
	Orphan     bool
}

// TokenSource gives the live tokens. Each calls fn for every live token
// (in no particular order) until fn returns false.
type TokenSource interface {
	Each(fn func(*Token) bool)
	// Len is the number of live tokens.
	Len() int
}
