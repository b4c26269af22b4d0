// Package passwords keeps the password policies (behind the barrier, at
// sys/password-policy/) and serves sys/policies/password: list, read,
// write, delete and generate. [Store.Generate] is what engines reach
// through their SystemView. It imports no core package; a [Store] is safe
// for concurrent use.
package passwords

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/passpol"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// prefix is where the password policies are stored, by name.
const prefix = "sys/password-policy/"

// Store keeps the password policies in st, the barrier.
type Store struct {
	st storage.Storage
}

// New returns the password policies stored in st. It does no I/O.
func New(st storage.Storage) *Store { return &Store{st: st} }

// validName checks a password policy name.
func validName(name string) error {
	if name == "" || len(name) > 128 || strings.ContainsAny(name, "/ \x00") {
		return logical.InvalidRequest("invalid password policy name %q", name)
	}
	return nil
}

// policy loads the named policy, or the default one for "".
func (s *Store) policy(ctx context.Context, name string) (*passpol.Policy, error) {
	if name == "" {
		return passpol.Default(), nil
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	e, err := s.st.Get(ctx, prefix+name)
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

// Generate makes a password with the named password policy, or the
// default policy for "". An unknown policy is an
// [logical.ErrInvalidRequest] error.
func (s *Store) Generate(ctx context.Context, name string) (string, error) {
	p, err := s.policy(ctx, name)
	if err != nil {
		return "", err
	}
	return p.Generate(rand.Reader)
}

// Paths are sys/policies/password/*, relative to sys/, in match order.
func (s *Store) Paths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern:    `policies/password/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ListOperation: s.list},
			Synopsis:   "List password policies.",
		},
		{
			Pattern:    `policies/password/(?P<name>[^/]+)/generate`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: s.generate},
			Synopsis:   "Generate a password with a password policy.",
		},
		{
			Pattern: `policies/password/(?P<name>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   s.read,
				logical.UpdateOperation: framework.Typed(s.write),
				logical.DeleteOperation: s.delete,
			},
			Synopsis: "Manage a password policy.",
		},
	}
}

func (s *Store) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	keys, err := s.st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

func (s *Store) read(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	if err := validName(name); err != nil {
		return nil, err
	}
	e, err := s.st.Get(ctx, prefix+name)
	if err != nil || e == nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"policy": string(e.Value)}}, nil
}

type passwordPolicyInput struct {
	Policy string `json:"policy"`
}

func (s *Store) write(ctx context.Context, req *logical.Request, m *framework.Match, in *passwordPolicyInput) (*logical.Response, error) {
	name := m.Get("name")
	if err := validName(name); err != nil {
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
	return nil, s.st.Put(ctx, &storage.Entry{Key: prefix + name, Value: []byte(in.Policy)})
}

func (s *Store) delete(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	name := m.Get("name")
	if err := validName(name); err != nil {
		return nil, err
	}
	return nil, s.st.Delete(ctx, prefix+name)
}

func (s *Store) generate(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	pw, err := s.Generate(ctx, m.Get("name"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"password": pw}}, nil
}
