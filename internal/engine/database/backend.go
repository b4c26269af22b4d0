package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage key prefixes; see the package comment.
const (
	configPrefix     = "config/"
	rolePrefix       = "role/"
	staticRolePrefix = "static-role/"
)

// lockStripes is how many mutexes guard connections and static roles.
const lockStripes = 64

// opTimeout bounds database work done outside a request (Periodic) and
// work that must not be cut short by a cancelled request.
const opTimeout = 30 * time.Second

// backend is one database secrets engine mount.
type backend struct {
	framework.Backend
	storage logical.Storage
	clock   logical.Clock
	system  logical.SystemView
	logger  *slog.Logger

	poolsMu sync.Mutex
	pools   map[string]*pool // guarded by poolsMu; connection name -> open pool

	// Lock order: a role's or static role's lock before a connection's
	// lock; never two locks of one array at once.
	seed        maphash.Seed
	cfgLocks    [lockStripes]sync.Mutex // serialise changes to the connections hashing to each
	roleLocks   [lockStripes]sync.Mutex // serialise writes to the roles hashing to each
	staticLocks [lockStripes]sync.Mutex // serialise writes and rotations of static roles

	configs framework.Collection[connConfig] // locked by cfgLocks
	roles   framework.Collection[role]       // locked by roleLocks
	statics framework.Collection[staticRole] // locked by staticLocks
}

// pool is an open connection pool for one connection config.
type pool struct {
	db *sql.DB
	d  dialect
}

// Factory builds a database secrets engine for one mount. It opens no
// connection: pools are opened on first use and cached per connection.
func Factory(_ context.Context, env logical.Env) (logical.Backend, error) {
	if env.Storage == nil {
		return nil, errors.New("database: no storage")
	}
	if env.System == nil {
		return nil, errors.New("database: no system view")
	}
	env = watchValues(env.WithDefaults())
	b := &backend{
		storage: env.Storage,
		clock:   env.Clock,
		system:  env.System,
		logger:  env.Logger,
		pools:   make(map[string]*pool),
		seed:    maphash.MakeSeed(),
	}
	b.configs = framework.Collection[connConfig]{Storage: env.Storage, Prefix: configPrefix, Lock: b.striped(&b.cfgLocks)}
	b.roles = framework.Collection[role]{Storage: env.Storage, Prefix: rolePrefix, Lock: b.striped(&b.roleLocks)}
	b.statics = framework.Collection[staticRole]{Storage: env.Storage, Prefix: staticRolePrefix, Lock: b.striped(&b.staticLocks)}
	b.Paths = b.paths()
	if err := b.Compile(); err != nil {
		return nil, err
	}
	return b, nil
}

// nameChars is the pattern of connection and role names; namePattern
// captures one as "name".
const (
	nameChars   = `[A-Za-z0-9][A-Za-z0-9_.@-]*`
	namePattern = `(?P<name>` + nameChars + `)`
)

func (b *backend) paths() []*framework.Path {
	return slices.Concat(b.configs.Paths(framework.CollectionPaths[connConfig]{
		Base: "config", Capture: "name", NamePattern: nameChars, Data: (*connConfig).response,
		Write: framework.Typed(b.writeConfig), Operations: map[logical.Operation]framework.Handler{logical.DeleteOperation: b.deleteConfig},
		ListSynopsis: "List connections.", Synopsis: "Configure a database connection.",
	}), []*framework.Path{
		{
			Pattern:    `reset/` + namePattern,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: b.reset},
			Synopsis:   "Close and reopen a connection's pool.",
		},
		{
			Pattern:    `rotate-root/` + namePattern,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: b.rotateRoot},
			Synopsis:   "Rotate the password of a connection's own user.",
		},
	}, b.roles.Paths(framework.CollectionPaths[role]{
		Base: "roles", Capture: "name", NamePattern: nameChars, Data: (*role).response,
		Write: framework.Typed(b.writeRole), Noun: "role", Synopsis: "Manage roles that create database users on demand.",
	}), []*framework.Path{
		{
			Pattern:    `creds/` + namePattern,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: b.creds},
			Synopsis:   "Create a database user for a role.",
		},
	}, b.statics.Paths(framework.CollectionPaths[staticRole]{
		Base: "static-roles", Capture: "name", NamePattern: nameChars, Data: (*staticRole).response,
		Write: framework.Typed(b.writeStaticRole), Noun: "static role",
		Synopsis: "Manage static roles: existing users whose passwords Coffer rotates.",
	}), []*framework.Path{
		{
			Pattern:    `static-creds/` + namePattern,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: b.staticCreds},
			Synopsis:   "Read a static role's current password.",
		},
		{
			Pattern:    `rotate-role/` + namePattern,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: b.rotateRoleNow},
			Synopsis:   "Rotate a static role's password now.",
		},
	})
}

// striped returns a [framework.Collection.Lock] that picks the mutex of
// locks for a name.
func (b *backend) striped(locks *[lockStripes]sync.Mutex) func(string) sync.Locker {
	return func(name string) sync.Locker { return &locks[maphash.String(b.seed, name)%lockStripes] }
}

// Periodic implements [logical.Periodic]: it completes pending root
// rotations and rotates static roles whose rotation time has come (or
// whose last rotation is pending). Errors for single roles are joined;
// one failing role does not stop the others.
func (b *backend) Periodic(ctx context.Context) error {
	var errs []error
	configs, err := b.configs.List(ctx)
	if err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	for _, name := range configs {
		if err := b.completeRootRotation(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	roles, err := b.statics.List(ctx)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list static roles: %w", err))...)
	}
	for _, name := range roles {
		if err := b.rotateIfDue(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Cleanup implements [logical.Cleaner]: it closes every pool.
func (b *backend) Cleanup(context.Context) {
	b.poolsMu.Lock()
	defer b.poolsMu.Unlock()
	for name, p := range b.pools {
		p.db.Close()
		delete(b.pools, name)
	}
}

// closePool closes and forgets the pool of a connection, if open.
func (b *backend) closePool(name string) {
	b.poolsMu.Lock()
	p := b.pools[name]
	delete(b.pools, name)
	b.poolsMu.Unlock()
	if p != nil {
		p.db.Close()
	}
}

// upstream returns an ErrUpstream error for a database failure. The
// message and the logged cause have every secret in secrets replaced, so
// that neither the client nor the log ever sees a password a driver
// happened to echo.
func upstream(what string, err error, secrets ...string) error {
	msg := redact(err.Error(), secrets...)
	return &logical.Error{Kind: logical.ErrUpstream, Msg: what + ": " + msg, Err: errors.New(msg)}
}

// invalid is like upstream for a problem the operator must fix (a 400).
func invalid(what string, err error, secrets ...string) error {
	msg := redact(err.Error(), secrets...)
	return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: what + ": " + msg, Err: errors.New(msg)}
}

func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// newPassword asks the system for a password with policy and makes sure it
// can be placed in a statement: a password with a quote or backslash is
// drawn again, a few times, before giving up.
func (b *backend) newPassword(ctx context.Context, policy string) (string, error) {
	for range 10 {
		pw, err := b.system.GeneratePassword(ctx, policy)
		if err != nil {
			return "", err
		}
		if sqlSafe(pw) && pw != "" {
			return pw, nil
		}
	}
	return "", logical.InvalidRequest("password policy %q keeps producing quotes or backslashes, which cannot be placed in SQL statements safely; remove them from its charsets", policy)
}

// withoutCancel keeps database work that has begun from being cut short
// when the client goes away: half-finished rotations and revocations are
// worse than late ones. The timeout still bounds it.
func withoutCancel(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
}
