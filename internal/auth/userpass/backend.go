package userpass

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// lockStripes is how many mutexes serialise writers of users.
const lockStripes = 64

// maxUsernameBytes bounds a username.
const maxUsernameBytes = 512

// userPrefix is the storage prefix of user entries.
const userPrefix = "user/"

// backend is one userpass mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	// params are the Argon2id parameters of new hashes.
	params hashParams

	// dummy is compared against when the user does not exist; it is made
	// once, from a random password nobody knows.
	dummy passwordHash
	// sem bounds concurrent password hashes; a slot is a buffered value.
	sem chan struct{}
	// hashes counts password hashes computed, so tests can check that an
	// unknown user costs one too.
	hashes atomic.Int64

	seed  maphash.Seed
	locks [lockStripes]sync.Mutex // locks[i] guards read-modify-write of the users hashing to i
	users framework.Collection[user]
}

// Factory builds a userpass backend for one mount, hashing with the
// production Argon2id parameters. It spends one password hash (about
// 20 ms) making the dummy hash for unknown users.
func Factory(ctx context.Context, env logical.Env) (logical.Backend, error) {
	return newBackend(ctx, env, productionParams())
}

// newBackend builds a backend whose new hashes use params.
func newBackend(_ context.Context, env logical.Env, params hashParams) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("userpass: no storage")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("userpass: read random dummy password: %w", err)
	}
	dummy, err := hashPassword(string(secret), params)
	if err != nil {
		return nil, fmt.Errorf("userpass: %w", err)
	}
	b := &backend{
		storage: env.Storage,
		params:  params,
		dummy:   dummy,
		sem:     make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		seed:    maphash.MakeSeed(),
	}
	b.users = framework.Collection[user]{Storage: env.Storage, Prefix: userPrefix, Lock: b.userLock}
	b.Paths = slices.Concat(b.users.Paths(framework.CollectionPaths[user]{
		Base: "users", Capture: "username", Name: username, Data: (*user).response,
		Write: framework.Typed(b.writeUser), Noun: "user",
	}), []*framework.Path{
		{
			Pattern: `users/(?P<username>[^/]+)/password`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.writePassword),
			},
			Synopsis: "Change a user's password.",
		},
		{
			Pattern: `users/(?P<username>[^/]+)/policies`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.writePolicies),
			},
			Synopsis: "Change a user's token policies.",
		},
		{
			Pattern: `login/(?P<username>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.login),
			},
			Synopsis: "Log in with a username and password.",
		},
	})
	return b, b.Compile()
}

// LoginPaths implements [logical.LoginPaths]: logging in needs no token.
func (b *backend) LoginPaths() []string {
	return []string{"login/*"}
}

// LookaheadAlias implements [logical.AliasLookahead]: the alias of a login
// is the lowercased username in its path, and it exists when the user
// does (one storage read either way). The result is zero for other paths
// and for names that are not valid usernames (the login then answers 400
// without reading storage).
func (b *backend) LookaheadAlias(ctx context.Context, req *logical.Request) (logical.LookaheadResult, error) {
	rest, found := strings.CutPrefix(req.Path, "login/")
	if !found {
		return logical.LookaheadResult{}, nil
	}
	name := strings.ToLower(rest)
	if checkUsername(name) != nil {
		return logical.LookaheadResult{}, nil
	}
	u, err := b.users.Get(ctx, name)
	if err != nil {
		return logical.LookaheadResult{}, err
	}
	return logical.LookaheadResult{Name: name, Exists: u != nil}, nil
}

// userLock returns the writer lock of user name.
func (b *backend) userLock(name string) sync.Locker {
	return &b.locks[maphash.String(b.seed, name)%lockStripes]
}

// hash runs fn holding one of the hashing slots, waiting for one if all are
// taken. It fails only when ctx ends first.
func (b *backend) hash(ctx context.Context, fn func()) error {
	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-b.sem }()
	b.hashes.Add(1)
	fn()
	return nil
}

// user is one stored user.
type user struct {
	Password passwordHash          `json:"password_hash"`
	Token    framework.TokenParams `json:"token"`
}

// username returns the lowercased, validated username captured from the
// path.
func username(m *framework.Match) (string, error) {
	name := strings.ToLower(m.Get("username"))
	if err := checkUsername(name); err != nil {
		return "", err
	}
	return name, nil
}

// checkUsername accepts a lowercased username of letters, digits, "_",
// "-" and ".", not starting with "-" or "." and not ending with ".", as
// Vault documents.
func checkUsername(name string) error {
	ok := name != "" && len(name) <= maxUsernameBytes &&
		name[0] != '-' && name[0] != '.' && name[len(name)-1] != '.'
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return logical.InvalidRequest("invalid username: use letters, digits, \"_\", \"-\" and \".\", not starting with \"-\" or \".\" nor ending with \".\", at most %d bytes", maxUsernameBytes)
	}
	return nil
}

func checkPassword(p string) error {
	switch {
	case p == "":
		return logical.InvalidRequest("missing password")
	case len(p) > maxPasswordBytes:
		return logical.InvalidRequest("password is longer than %d bytes", maxPasswordBytes)
	}
	return nil
}
