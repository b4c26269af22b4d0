package approle

import (
	"context"
	"crypto/subtle"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Limits on names and identifiers, as in Vault.
const (
	maxRoleNameBytes = 4095
	maxRoleIDBytes   = 4096
	maxSecretIDBytes = 4096
	maxNumUses       = math.MaxInt32
)

// role is one stored AppRole.
type role struct {
	RoleID             string                `json:"role_id"`
	BindSecretID       bool                  `json:"bind_secret_id"`
	SecretIDBoundCIDRs []string              `json:"secret_id_bound_cidrs,omitempty"`
	SecretIDNumUses    int                   `json:"secret_id_num_uses,omitempty"`
	SecretIDTTL        time.Duration         `json:"secret_id_ttl_ns,omitempty"`
	LocalSecretIDs     bool                  `json:"local_secret_ids,omitempty"`
	Token              framework.TokenParams `json:"token"`
}

// roleIndex is the entry at role_id/<hmac>: which role has that role ID.
type roleIndex struct {
	Name string `json:"name"`
}

// roleInput is the body of a role write: a new role gets defaults for what
// is absent; for an existing role only the fields present change. Period
// is Vault's deprecated name for token_period.
type roleInput struct {
	RoleID             *string                 `json:"role_id"`
	BindSecretID       *framework.Bool         `json:"bind_secret_id"`
	SecretIDBoundCIDRs *framework.CommaStrings `json:"secret_id_bound_cidrs"`
	SecretIDNumUses    *framework.Int          `json:"secret_id_num_uses"`
	SecretIDTTL        *framework.Duration     `json:"secret_id_ttl"`
	LocalSecretIDs     *framework.Bool         `json:"local_secret_ids"`
	Period             *framework.Duration     `json:"period"`
	// BoundCIDRList is Vault's deprecated name for secret_id_bound_cidrs;
	// ignoring it would drop the CIDR bound it asks for.
	BoundCIDRList framework.Unsupported `json:"bound_cidr_list"`
	framework.TokenParamsUpdate
}

// roleResponse is the data of a role read.
type roleResponse struct {
	BindSecretID       bool     `json:"bind_secret_id"`
	LocalSecretIDs     bool     `json:"local_secret_ids"`
	SecretIDBoundCIDRs []string `json:"secret_id_bound_cidrs"`
	SecretIDNumUses    int      `json:"secret_id_num_uses"`
	SecretIDTTL        int64    `json:"secret_id_ttl"`
	framework.TokenParamsResponse
}

// roleIDData is the body of a role-id write and the data of its read.
type roleIDData struct {
	RoleID string `json:"role_id"`
}

// roleName returns the lowercased, validated role name captured from the
// path: letters, digits, space, "_", "-" and ".", but not "." or "..".
func roleName(m *framework.Match) (string, error) {
	name := strings.ToLower(m.Get("role_name"))
	ok := name != "" && name != "." && name != ".." && len(name) <= maxRoleNameBytes
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ' ' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return "", logical.InvalidRequest("invalid role name: use letters, digits, spaces, \"_\", \"-\" and \".\", at most %d bytes", maxRoleNameBytes)
	}
	return name, nil
}

// roleMissing is the error for a request naming a role that does not
// exist; the words are Vault's.
func roleMissing(name string) error {
	return logical.NotFound("role %q does not exist", name)
}

// response is the data of a read of r.
func (r *role) response() any {
	cidrs := r.SecretIDBoundCIDRs
	if cidrs == nil {
		cidrs = []string{}
	}
	return &roleResponse{
		BindSecretID:        r.BindSecretID,
		LocalSecretIDs:      r.LocalSecretIDs,
		SecretIDBoundCIDRs:  cidrs,
		SecretIDNumUses:     r.SecretIDNumUses,
		SecretIDTTL:         framework.Seconds(r.SecretIDTTL),
		TokenParamsResponse: r.Token.Response(),
	}
}

// writeRole creates a role or changes the given fields of an existing one.
func (b *backend) writeRole(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleInput) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	if in.SecretIDNumUses != nil && (*in.SecretIDNumUses < 0 || *in.SecretIDNumUses > maxNumUses) {
		return nil, logical.InvalidRequest("invalid value for \"secret_id_num_uses\": want an integer from 0 to %d", maxNumUses)
	}
	if in.SecretIDBoundCIDRs != nil {
		if err := framework.ValidateCIDRs("secret_id_bound_cidrs", *in.SecretIDBoundCIDRs); err != nil {
			return nil, err
		}
	}
	if in.RoleID != nil {
		if err := checkRoleID(*in.RoleID); err != nil {
			return nil, err
		}
	}
	if in.TokenPeriod == nil && in.Period != nil {
		in.TokenPeriod = in.Period
	}
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}

	b.rolesMu.Lock()
	defer b.rolesMu.Unlock()
	defer b.lock(roleKey(key, name))()
	old, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	var r role
	switch {
	case old == nil:
		r = role{BindSecretID: true, RoleID: newUUID()}
		if in.LocalSecretIDs != nil {
			r.LocalSecretIDs = bool(*in.LocalSecretIDs)
		}
	default:
		r = *old
		if in.LocalSecretIDs != nil && bool(*in.LocalSecretIDs) != r.LocalSecretIDs {
			return nil, logical.InvalidRequest("\"local_secret_ids\" can only be set when the role is created")
		}
	}
	if in.RoleID != nil {
		r.RoleID = *in.RoleID
	}
	if in.BindSecretID != nil {
		r.BindSecretID = bool(*in.BindSecretID)
	}
	if in.SecretIDBoundCIDRs != nil {
		r.SecretIDBoundCIDRs = trimmed(*in.SecretIDBoundCIDRs)
	}
	if in.SecretIDNumUses != nil {
		r.SecretIDNumUses = int(*in.SecretIDNumUses)
	}
	if in.SecretIDTTL != nil {
		r.SecretIDTTL = time.Duration(*in.SecretIDTTL)
	}
	if r.Token, err = in.Apply(r.Token); err != nil {
		return nil, err
	}
	if !r.BindSecretID && len(r.SecretIDBoundCIDRs) == 0 && len(r.Token.BoundCIDRs) == 0 {
		return nil, logical.InvalidRequest("a role without \"bind_secret_id\" needs \"secret_id_bound_cidrs\" or \"token_bound_cidrs\"")
	}
	var oldID string
	if old != nil {
		oldID = old.RoleID
	}
	return nil, b.saveRoleLocked(ctx, key, name, &r, oldID)
}

// saveRoleLocked stores r and moves its role ID index from oldID (empty
// for a new role) in one transaction, refusing a role ID another role has.
// The caller holds rolesMu.
func (b *backend) saveRoleLocked(ctx context.Context, key []byte, name string, r *role, oldID string) error {
	ops := make([]logical.TxnOp, 0, 3)
	if r.RoleID != oldID {
		idxKey := roleIDPrefix + mac(key, "role_id", r.RoleID)
		var idx roleIndex
		found, err := framework.GetJSON(ctx, b.storage, idxKey, &idx)
		if err != nil {
			return err
		}
		if found && idx.Name != name {
			return &logical.Error{Kind: logical.ErrConflict, Msg: "role_id is already in use by another role"}
		}
		op, err := framework.PutJSONOp(idxKey, roleIndex{Name: name})
		if err != nil {
			return err
		}
		ops = append(ops, op)
		if oldID != "" {
			ops = append(ops, deleteOp(roleIDPrefix+mac(key, "role_id", oldID)))
		}
	}
	op, err := b.roles.PutOp(name, r)
	if err != nil {
		return err
	}
	ops = append(ops, op)
	if err := b.storage.Txn(ctx, ops); err != nil {
		return fmt.Errorf("write role: %w", err)
	}
	return nil
}

// deleteRole removes a role, its role ID index and all its secret IDs in
// one transaction.
func (b *backend) deleteRole(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}
	rk := roleKey(key, name)
	b.rolesMu.Lock()
	defer b.rolesMu.Unlock()
	defer b.lock(rk)()
	r, err := b.roles.Get(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	ops := []logical.TxnOp{deleteOp(rolePrefix + name), deleteOp(roleIDPrefix + mac(key, "role_id", r.RoleID))}
	for _, prefix := range []string{secretIDPrefix + rk + "/", accessorPrefix + rk + "/"} {
		keys, err := b.storage.List(ctx, prefix)
		if err != nil {
			return nil, fmt.Errorf("list secret IDs: %w", err)
		}
		for _, k := range keys {
			ops = append(ops, deleteOp(prefix+k))
		}
	}
	if err := b.storage.Txn(ctx, ops); err != nil {
		return nil, fmt.Errorf("delete role: %w", err)
	}
	return nil, nil
}

// readRoleID answers role/:role_name/role-id.
func (b *backend) readRoleID(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil || r == nil {
		return nil, err
	}
	return &logical.Response{Data: &roleIDData{RoleID: r.RoleID}}, nil
}

// writeRoleID gives an existing role a new role ID, unique across roles.
func (b *backend) writeRoleID(ctx context.Context, _ *logical.Request, m *framework.Match, in *roleIDData) (*logical.Response, error) {
	name, err := roleName(m)
	if err != nil {
		return nil, err
	}
	if err := checkRoleID(in.RoleID); err != nil {
		return nil, err
	}
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}
	b.rolesMu.Lock()
	defer b.rolesMu.Unlock()
	defer b.lock(roleKey(key, name))()
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, roleMissing(name)
	}
	oldID := r.RoleID
	r.RoleID = in.RoleID
	return nil, b.saveRoleLocked(ctx, key, name, r, oldID)
}

func checkRoleID(id string) error {
	switch {
	case id == "":
		return logical.InvalidRequest("missing role_id")
	case len(id) > maxRoleIDBytes:
		return logical.InvalidRequest("role_id is longer than %d bytes", maxRoleIDBytes)
	}
	return nil
}

// sameString compares two strings in constant time (for equal lengths).
func sameString(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// trimmed returns list with each entry trimmed and empty entries dropped.
func trimmed(list []string) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
