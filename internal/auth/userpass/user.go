package userpass

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// userInput is the body of users/:username: a new user needs a password;
// for an existing one only the fields present change.
type userInput struct {
	Password *string `json:"password"`
	framework.TokenParamsUpdate
}

// userResponse is the data of a user read. The password hash is never
// returned.
type userResponse struct {
	framework.TokenParamsResponse
}

// passwordInput is the body of users/:username/password.
type passwordInput struct {
	Password string `json:"password"`
}

// policiesInput is the body of users/:username/policies. Absent policies
// clear the list, as in Vault.
type policiesInput struct {
	TokenPolicies *framework.CommaStrings `json:"token_policies"`
	Policies      *framework.CommaStrings `json:"policies"`
}

// response is the data of a read of u: never the password hash.
func (u *user) response() any {
	return &userResponse{TokenParamsResponse: u.Token.Response()}
}

// writeUser creates a user or changes the given fields of an existing one.
func (b *backend) writeUser(ctx context.Context, _ *logical.Request, m *framework.Match, in *userInput) (*logical.Response, error) {
	name, err := username(m)
	if err != nil {
		return nil, err
	}
	// Refuse bad token fields before spending a hash on the password. A
	// field that is wrong on its own is wrong whatever is stored; checks
	// against stored fields come again below.
	if _, err := in.Apply(framework.TokenParams{}); err != nil {
		return nil, err
	}
	var hashed *passwordHash
	if in.Password != nil {
		if err := checkPassword(*in.Password); err != nil {
			return nil, err
		}
		if hashed, err = b.hashNew(ctx, *in.Password); err != nil {
			return nil, err
		}
	}
	defer b.users.Hold(name)()
	u, err := b.users.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if u == nil {
		if hashed == nil {
			return nil, logical.InvalidRequest("missing password: a new user needs one")
		}
		u = &user{}
	}
	if u.Token, err = in.Apply(u.Token); err != nil {
		return nil, err
	}
	if hashed != nil {
		u.Password = *hashed
	}
	return nil, b.users.Put(ctx, name, u)
}

// writePassword replaces an existing user's password.
func (b *backend) writePassword(ctx context.Context, _ *logical.Request, m *framework.Match, in *passwordInput) (*logical.Response, error) {
	name, err := username(m)
	if err != nil {
		return nil, err
	}
	if err := checkPassword(in.Password); err != nil {
		return nil, err
	}
	hashed, err := b.hashNew(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	return nil, b.update(ctx, name, func(u *user) error {
		u.Password = *hashed
		return nil
	})
}

// writePolicies replaces an existing user's token policies.
func (b *backend) writePolicies(ctx context.Context, _ *logical.Request, m *framework.Match, in *policiesInput) (*logical.Response, error) {
	name, err := username(m)
	if err != nil {
		return nil, err
	}
	upd := framework.TokenParamsUpdate{TokenPolicies: in.TokenPolicies, Policies: in.Policies}
	if upd.TokenPolicies == nil && upd.Policies == nil {
		upd.TokenPolicies = &framework.CommaStrings{}
	}
	return nil, b.update(ctx, name, func(u *user) error {
		var err error
		u.Token, err = upd.Apply(u.Token)
		return err
	})
}

// update applies fn to an existing user under its lock and stores the
// result. A missing user is an [logical.ErrNotFound] error.
func (b *backend) update(ctx context.Context, name string, fn func(*user) error) error {
	defer b.users.Hold(name)()
	u, err := b.users.Get(ctx, name)
	if err != nil {
		return err
	}
	if u == nil {
		return logical.NotFound("no user named %q", name)
	}
	if err := fn(u); err != nil {
		return err
	}
	return b.users.Put(ctx, name, u)
}

// hashNew hashes a new password in one of the hashing slots.
func (b *backend) hashNew(ctx context.Context, password string) (*passwordHash, error) {
	var h passwordHash
	var herr error
	if err := b.hash(ctx, func() { h, herr = hashPassword(password, b.params) }); err != nil {
		return nil, err
	}
	if herr != nil {
		return nil, herr
	}
	return &h, nil
}
