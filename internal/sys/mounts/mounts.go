// Package mounts serves the sys/ endpoints of the mount table: enabling,
// reading, tuning, moving and disabling secrets engines (sys/mounts) and
// auth methods (sys/auth), sys/remount and its status, the barrier's key
// term (sys/rotate, sys/key-status), and the mount lookups clients make
// before their requests (sys/internal/ui/mounts).
//
// The mount table itself stays in core, which the request pipeline needs;
// this package reaches it only through the [Core] interface it declares.
// It imports no core package. An [API] is safe for concurrent use.
package mounts

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// authPrefix starts the router path of every auth method mount.
const authPrefix = "auth/"

// Entry is one row of the mount table, as the endpoints show it.
type Entry struct {
	// Path is the router path with a trailing slash: "secret/", or
	// "auth/approle/" for an auth method.
	Path        string
	Type        string
	Description string
	UUID        string
	Accessor    string
	// DefaultLeaseTTL and MaxLeaseTTL are the mount's own settings; zero
	// means the server's.
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	// EffectiveDefaultTTL and EffectiveMaxTTL are the TTLs the mount's
	// backend works with: its own, or the server's.
	EffectiveDefaultTTL time.Duration
	EffectiveMaxTTL     time.Duration
	Options             map[string]string
	Local               bool
	SealWrap            bool
	// Lockout is an auth method's login lockout, defaults filled in.
	Lockout Lockout
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys are the
	// top-level request and response keys audit entries show in clear.
	AuditNonHMACRequestKeys, AuditNonHMACResponseKeys []string
}

// IsAuth reports whether e is an auth method mount.
func (e *Entry) IsAuth() bool { return strings.HasPrefix(e.Path, authPrefix) }

// Lockout is an auth method's user lockout setting.
type Lockout struct {
	Threshold    int
	Duration     time.Duration
	CounterReset time.Duration
	Disable      bool
}

// Input is a request to enable a secrets engine or, with Auth, an auth
// method.
type Input struct {
	Auth            bool
	Path            string
	Type            string
	Description     string
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	Options         map[string]string
	Local           bool
	SealWrap        bool
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys are the
	// top-level request and response keys audit entries show in clear.
	AuditNonHMACRequestKeys, AuditNonHMACResponseKeys []string
}

// Tune changes a mount's settings; nil fields stay as they are.
type Tune struct {
	DefaultLeaseTTL *time.Duration
	MaxLeaseTTL     *time.Duration
	Description     *string
	Options         map[string]string
	Lockout         *Lockout
	// AuditNonHMACRequestKeys and AuditNonHMACResponseKeys, when not nil,
	// replace the mount's lists; an empty list or [""] clears one.
	AuditNonHMACRequestKeys, AuditNonHMACResponseKeys []string
}

// KeyStatus describes the barrier's active key term.
type KeyStatus struct {
	Term        uint32
	InstallTime time.Time
	Encryptions uint64
}

// Core is what the endpoints need from core. Mount, Unmount, Tune and
// Remount change the mount table completely or not at all and return
// errors of the [logical] kinds.
type Core interface {
	// Mounts returns a copy of the mount table, sorted by path.
	Mounts() []Entry
	Mount(ctx context.Context, in Input) error
	// Unmount disables the mount at path (under auth/ with auth set).
	Unmount(ctx context.Context, auth bool, path string) error
	Tune(ctx context.Context, auth bool, path string, in Tune) error
	Remount(ctx context.Context, from, to string) error
	// Route returns the router path of the mount that serves path.
	Route(path string) (mountPath string, ok bool)
	// ClusterID is the cluster's ID, "" before initialization.
	ClusterID() string
	// RotateKey adds a new key term to the barrier's keyring.
	RotateKey(ctx context.Context) (term uint32, err error)
	// KeyStatus reports the barrier's active key term.
	KeyStatus() (KeyStatus, error)
}

// Options configures an [API].
type Options struct {
	// Core is the mount table and the barrier.
	Core Core
	// Version is the server's version, reported as every mount's running
	// plugin version.
	Version string
	// NewUUID makes a migration ID for sys/remount.
	NewUUID func() string
	// Logger receives lifecycle logs.
	Logger *slog.Logger
}

// API serves the mount endpoints. It keeps the status of mount moves, in
// memory.
type API struct {
	opts     Options
	remounts sync.Map // migration ID -> *remountStatus
}

// New returns the mount endpoints over opts.Core.
func New(opts Options) *API {
	return &API{opts: opts}
}

// Paths returns the path table entries, relative to sys/, in match order.
// Paths marked TopLevel are Vault's older sys endpoints whose answers are
// repeated at the top level of the response.
func (a *API) Paths() []*framework.Path {
	paths := append(a.tablePaths(false), a.tablePaths(true)...)
	return append(paths,
		&framework.Path{
			Pattern:    `remount`,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(a.remount)},
			Synopsis:   "Move a mount to another path.",
			TopLevel:   true,
		},
		&framework.Path{
			Pattern:    `remount/status/(?P<id>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: a.remountStatus},
			Synopsis:   "Report on a mount move.",
		},
		&framework.Path{
			Pattern:    `rotate`,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: a.rotate},
			Synopsis:   "Add a new encryption key term to the keyring.",
			TopLevel:   true,
		},
		&framework.Path{
			Pattern:    `key-status`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: a.keyStatus},
			Synopsis:   "Report the active encryption key term.",
			TopLevel:   true,
		},
		&framework.Path{
			Pattern:    `internal/ui/mounts/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: a.uiMounts},
			Synopsis:   "List mounts for clients.",
		},
		&framework.Path{
			Pattern:    `internal/ui/mounts/(?P<path>.+)`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: a.uiMount},
			Synopsis:   "Find the mount that serves a path.",
		},
	)
}

// tablePaths are sys/mounts* (auth false) or sys/auth* (auth true): the
// list, a mount's tuning, and a mount.
func (a *API) tablePaths(auth bool) []*framework.Path {
	prefix, list, tune, mount := "mounts", "List the mounted secrets engines.", "Read or change a mount's settings.", "Enable, read or disable a secrets engine."
	if auth {
		prefix, list, tune, mount = "auth", "List the enabled auth methods.", "Read or change an auth method's settings.", "Enable, read or disable an auth method."
	}
	return []*framework.Path{
		{
			Pattern:    prefix + `/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: a.list(auth)},
			Synopsis:   list,
			TopLevel:   true,
		},
		{
			Pattern: prefix + `/(?P<path>.+)/tune`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   a.readTune(auth),
				logical.UpdateOperation: a.tune(auth),
			},
			Synopsis: tune,
			TopLevel: true,
		},
		{
			Pattern: prefix + `/(?P<path>.+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   a.read(auth),
				logical.UpdateOperation: a.mount(auth),
				logical.DeleteOperation: a.unmount(auth),
			},
			Synopsis: mount,
			TopLevel: true,
		},
	}
}
