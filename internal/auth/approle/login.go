package approle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// loginInput is the body of login.
type loginInput struct {
	RoleID   string `json:"role_id"`
	SecretID string `json:"secret_id"`
}

// check refuses a role_id or secret_id longer than Vault's limit for
// values it hashes, before any work is done with them.
func (in *loginInput) check() error {
	switch {
	case len(in.RoleID) > maxRoleIDBytes:
		return logical.InvalidRequest("role_id is longer than %d bytes", maxRoleIDBytes)
	case len(in.SecretID) > maxSecretIDBytes:
		return logical.InvalidRequest("secret_id is longer than %d bytes", maxSecretIDBytes)
	}
	return nil
}

// noRole is looked up in place of a role when the role ID is unknown, so
// that the failure does the same storage reads as any other. "#" is not
// allowed in role names, so no role has this name.
const noRole = "#"

// invalidCredentials is the one answer to every failed login, with
// Vault's message. cause is for the server log only and never holds a
// secret.
func invalidCredentials(cause string) error {
	return logical.InvalidCredentials("invalid role or secret ID", errors.New(cause))
}

// login checks a role ID and, when the role binds one, a secret ID, and
// returns the Auth for core to turn into a token.
func (b *backend) login(ctx context.Context, req *logical.Request, _ *framework.Match, in *loginInput) (*logical.Response, error) {
	if in.RoleID == "" {
		return nil, logical.InvalidRequest("missing role_id")
	}
	if err := in.check(); err != nil {
		return nil, err
	}
	key, err := b.key(ctx)
	if err != nil {
		return nil, err
	}
	// The same reads and HMACs happen whatever fails: index, role, secret ID.
	sidMAC := mac(key, "secret_id", in.SecretID)
	var idx roleIndex
	found, err := framework.GetJSON(ctx, b.storage, roleIDPrefix+mac(key, "role_id", in.RoleID), &idx)
	if err != nil {
		return nil, err
	}
	name := noRole
	if found {
		name = idx.Name
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	rk := roleKey(key, name)
	e, err := b.loadSecretID(ctx, rk, sidMAC)
	if err != nil {
		return nil, err
	}

	ip := req.Connection.RemoteIP()
	if r == nil || !sameString(r.RoleID, in.RoleID) {
		return nil, invalidCredentials("unknown role_id")
	}
	if !framework.CIDRsAllow(r.SecretIDBoundCIDRs, ip) {
		return nil, invalidCredentials("client address outside the role's secret_id_bound_cidrs")
	}
	tokenCIDRs := r.Token.BoundCIDRs
	if r.BindSecretID {
		if err := b.checkSecretID(e, ip); err != nil {
			return nil, err
		}
		if len(e.TokenBoundCIDRs) > 0 {
			tokenCIDRs = e.TokenBoundCIDRs
		}
	}
	if !framework.CIDRsAllow(tokenCIDRs, ip) {
		return nil, invalidCredentials("client address outside token_bound_cidrs")
	}
	if r.BindSecretID && e.NumUses > 0 {
		if err := b.useSecretID(ctx, rk, sidMAC, ip); err != nil {
			return nil, err
		}
	}

	auth := &logical.Auth{
		DisplayName:  name,
		Alias:        &logical.Alias{Name: in.RoleID},
		InternalData: map[string]string{"role_name": name},
	}
	r.Token.PopulateAuth(auth)
	auth.BoundCIDRs = append([]string(nil), tokenCIDRs...)
	auth.Metadata = map[string]string{}
	if r.BindSecretID {
		maps.Copy(auth.Metadata, e.Metadata)
		auth.InternalData["secret_id_accessor"] = e.Accessor
	}
	auth.Metadata["role_name"] = name
	return &logical.Response{Auth: auth}, nil
}

// checkSecretID checks a looked-up secret ID entry: present, not expired
// and used from an allowed address.
func (b *backend) checkSecretID(e *secretIDEntry, ip net.IP) error {
	switch {
	case e == nil:
		return invalidCredentials("unknown secret_id for the role")
	case e.expired(b.clock.Now()):
		return invalidCredentials("expired secret_id")
	case !framework.CIDRsAllow(e.CIDRList, ip):
		return invalidCredentials("client address outside the secret_id's cidr_list")
	}
	return nil
}

// useSecretID spends one use of a secret ID with a use limit, under the
// role's lock and in one transaction: the entry is re-read (a concurrent
// login may have spent the last use), then decremented, or deleted with
// its accessor when this was the last use.
func (b *backend) useSecretID(ctx context.Context, rk, sidMAC string, ip net.IP) error {
	defer b.lock(rk)()
	e, err := b.loadSecretID(ctx, rk, sidMAC)
	if err != nil {
		return err
	}
	if err := b.checkSecretID(e, ip); err != nil {
		return err
	}
	var ops []logical.TxnOp
	if e.NumUses == 1 {
		ops = []logical.TxnOp{deleteOp(secretIDKey(rk, sidMAC)), deleteOp(accessorKey(rk, e.Accessor))}
	} else {
		e.NumUses--
		e.Updated = b.clock.Now().UTC()
		op, err := framework.PutJSONOp(secretIDKey(rk, sidMAC), e)
		if err != nil {
			return err
		}
		ops = []logical.TxnOp{op}
	}
	if err := b.storage.Txn(ctx, ops); err != nil {
		return fmt.Errorf("use secret ID: %w", err)
	}
	return nil
}
