package core

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/passpol"
)

const passwordPolicyPrefix = "sys/password-policy/"

// validPasswordPolicyName checks a password policy name.
func validPasswordPolicyName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/ \x00") {
		return logical.InvalidRequest("invalid password policy name %q", name)
	}
	return nil
}

// passwordPolicy loads the named policy, or the default one for "".
func (c *Core) passwordPolicy(ctx context.Context, name string) (*passpol.Policy, error) {
	if name == "" {
		return passpol.Default(), nil
	}
	if err := validPasswordPolicyName(name); err != nil {
		return nil, err
	}
	e, err := c.barrier.Get(ctx, passwordPolicyPrefix+name)
	if err != nil {
		return nil, fmt.Errorf("read password policy: %w", err)
	}
	if e == nil {
		return nil, logical.InvalidRequest("unknown password policy %q", name)
	}
	p, err := passpol.Parse(string(e.Value))
	if err != nil {
		return nil, fmt.Errorf("parse stored password policy %q: %w", name, err)
	}
	return p, nil
}

// generatePassword makes a password with the named password policy.
func (c *Core) generatePassword(ctx context.Context, name string) (string, error) {
	p, err := c.passwordPolicy(ctx, name)
	if err != nil {
		return "", err
	}
	return p.Generate(rand.Reader)
}

// passwordPaths are sys/policies/password/*.
func (c *Core) passwordPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    `policies/password/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ListOperation: c.sysPasswordList},
			Synopsis:   "List password policies.",
		},
		{
			Pattern:    `policies/password/(?P<name>[^/]+)/generate`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysPasswordGenerate},
			Synopsis:   "Generate a password with a password policy.",
		},
		{
			Pattern: `policies/password/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.sysPasswordRead,
				logical.UpdateOperation: framework.Typed(c.sysPasswordWrite),
				logical.DeleteOperation: c.sysPasswordDelete,
			},
			Synopsis: "Manage a password policy.",
		},
	}
}

func (c *Core) sysPasswordList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := c.barrier.List(ctx, passwordPolicyPrefix)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

func (c *Core) sysPasswordRead(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	if err := validPasswordPolicyName(name); err != nil {
		return nil, err
	}
	e, err := c.barrier.Get(ctx, passwordPolicyPrefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"policy": string(e.Value)}}, nil
}

type passwordPolicyInput struct {
	Policy string `json:"policy"`
}

func (c *Core) sysPasswordWrite(ctx context.Context, req *logical.Request, m *framework.Match, in *passwordPolicyInput) (*logical.Response, error) {
	name := m.Get("name")
	if err := validPasswordPolicyName(name); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.Policy) == "" {
		return nil, logical.InvalidRequest("missing policy: send the policy's HCL as \"policy\"")
	}
	p, err := passpol.Parse(in.Policy)
	if err != nil {
		return nil, logical.InvalidRequest("invalid password policy: %s", err.Error())
	}
	// A policy that cannot produce a password is refused now, not later.
	if _, err := p.Generate(rand.Reader); err != nil {
		return nil, logical.InvalidRequest("the password policy cannot generate a password: %s", err.Error())
	}
	return nil, c.barrier.Put(ctx, storageEntry(passwordPolicyPrefix+name, []byte(in.Policy)))
}

func (c *Core) sysPasswordDelete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	if err := validPasswordPolicyName(name); err != nil {
		return nil, err
	}
	return nil, c.barrier.Delete(ctx, passwordPolicyPrefix+name)
}

func (c *Core) sysPasswordGenerate(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	pw, err := c.generatePassword(ctx, m.Get("name"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"password": pw}}, nil
}
