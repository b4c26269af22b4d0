package core

import (
	"context"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// newSysBackend returns the path table of the sys/ endpoints core serves
// through the request pipeline. The unauthenticated ones (init, unseal,
// seal-status, health, leader) are called directly by the HTTP layer.
// Paths marked TopLevel are those whose answers Vault also repeats at the
// top level of the response for old clients: sys/mounts, sys/auth,
// sys/policy, sys/audit, sys/audit-hash, sys/capabilities*, sys/remount,
// sys/rotate, sys/key-status and sys/ha-status, each with its sub-paths
// (Vault's list has sys/wrapping/wrap too, whose answer is always wrapped).
func (c *Core) newSysBackend() *framework.Backend {
	paths := []*framework.Path{
		{
			Pattern:    `mounts/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysListMounts(false)},
			Synopsis:   "List the mounted secrets engines.",
			TopLevel:   true,
		},
		{
			Pattern: `mounts/(?P<path>.+)/tune`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.sysReadTune(false),
				logical.UpdateOperation: c.sysTune(false),
			},
			Synopsis: "Read or change a mount's settings.",
			TopLevel: true,
		},
		{
			Pattern: `mounts/(?P<path>.+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.sysReadMount(false),
				logical.UpdateOperation: c.sysMount(false),
				logical.DeleteOperation: c.sysUnmount(false),
			},
			Synopsis: "Enable, read or disable a secrets engine.",
			TopLevel: true,
		},
		{
			Pattern:    `auth/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysListMounts(true)},
			Synopsis:   "List the enabled auth methods.",
			TopLevel:   true,
		},
		{
			Pattern: `auth/(?P<path>.+)/tune`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.sysReadTune(true),
				logical.UpdateOperation: c.sysTune(true),
			},
			Synopsis: "Read or change an auth method's settings.",
			TopLevel: true,
		},
		{
			Pattern: `auth/(?P<path>.+)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   c.sysReadMount(true),
				logical.UpdateOperation: c.sysMount(true),
				logical.DeleteOperation: c.sysUnmount(true),
			},
			Synopsis: "Enable, read or disable an auth method.",
			TopLevel: true,
		},
		{
			Pattern:    `remount`,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysRemount)},
			Synopsis:   "Move a mount to another path.",
			TopLevel:   true,
		},
		{
			Pattern:    `remount/status/(?P<id>[^/]+)`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysRemountStatus},
			Synopsis:   "Report on a mount move.",
		},
		{
			Pattern:    `rotate`,
			Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: c.sysRotate},
			Synopsis:   "Add a new encryption key term to the keyring.",
			TopLevel:   true,
		},
		{
			Pattern:    `key-status`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysKeyStatus},
			Synopsis:   "Report the active encryption key term.",
			TopLevel:   true,
		},
		{
			Pattern:    `internal/ui/mounts/?`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysUIMounts},
			Synopsis:   "List mounts for clients.",
		},
		{
			Pattern:    `internal/ui/mounts/(?P<path>.+)`,
			Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysUIMount},
			Synopsis:   "Find the mount that serves a path.",
		},
	}
	paths = append(paths, ha.Paths(c.ha)...)
	paths = append(paths, c.rotation.Paths()...)
	paths = append(paths, c.aclPaths()...)
	paths = append(paths, c.wrapPaths()...)
	paths = append(paths, c.passwordPaths()...)
	paths = append(paths, c.auditPaths()...)
	paths = append(paths, c.pluginPaths()...)
	paths = append(paths, c.hostInfoPaths()...)
	paths = append(paths, c.operator.Paths()...)
	return &framework.Backend{Paths: append(paths, c.leasePaths()...)}
}

// mountConfigOutput is a mount's config as Vault reports it.
type mountConfigOutput struct {
	DefaultLeaseTTL int64 `json:"default_lease_ttl"`
	MaxLeaseTTL     int64 `json:"max_lease_ttl"`
	ForceNoCache    bool  `json:"force_no_cache"`
}

// mountOutput is one mount as sys/mounts reports it.
type mountOutput struct {
	Type                  string            `json:"type"`
	Description           string            `json:"description"`
	Accessor              string            `json:"accessor"`
	UUID                  string            `json:"uuid"`
	Config                mountConfigOutput `json:"config"`
	Options               map[string]string `json:"options"`
	Local                 bool              `json:"local"`
	SealWrap              bool              `json:"seal_wrap"`
	ExternalEntropyAccess bool              `json:"external_entropy_access"`
	PluginVersion         string            `json:"plugin_version"`
	RunningPluginVersion  string            `json:"running_plugin_version"`
	RunningSha256         string            `json:"running_sha256"`
	DeprecationStatus     string            `json:"deprecation_status,omitempty"`
}

func (c *Core) mountOutput(m *MountEntry) mountOutput {
	return mountOutput{
		Type:        m.Type,
		Description: m.Description,
		Accessor:    m.Accessor,
		UUID:        m.UUID,
		Config: mountConfigOutput{
			DefaultLeaseTTL: int64(m.Config.DefaultLeaseTTL / time.Second),
			MaxLeaseTTL:     int64(m.Config.MaxLeaseTTL / time.Second),
		},
		Options:              m.Options,
		Local:                m.Local,
		SealWrap:             m.SealWrap,
		RunningPluginVersion: "v" + c.opts.Version + "+builtin.coffer",
		DeprecationStatus:    "supported",
	}
}

// systemMount describes sys/ itself in mount listings, as Vault does.
func (c *Core) systemMount() mountOutput {
	id := c.ClusterID()
	accessor := "system"
	if len(id) >= 8 {
		accessor += "_" + id[:8]
	}
	return mountOutput{
		Type:                 "system",
		Description:          "system endpoints used for control, policy and debugging",
		Accessor:             accessor,
		UUID:                 id,
		RunningPluginVersion: "v" + c.opts.Version + "+builtin.coffer",
	}
}

// userPath is how the API names a mount: "secret/", or "approle/" for
// the auth method at auth/approle/.
func userPath(m *MountEntry) string { return strings.TrimPrefix(m.Path, authPrefix) }

func (c *Core) sysListMounts(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		out := map[string]mountOutput{}
		if !auth {
			out["sys/"] = c.systemMount()
		}
		for _, e := range c.Mounts() {
			if e.IsAuth() == auth {
				out[userPath(&e)] = c.mountOutput(&e)
			}
		}
		return &logical.Response{Data: out}, nil
	}
}

func (c *Core) findMount(auth bool, path string) (*MountEntry, error) {
	p, err := normalizeMountPath(path)
	if err != nil {
		return nil, err
	}
	if auth {
		p = authPrefix + p
	}
	for _, e := range c.Mounts() {
		if e.Path == p {
			return &e, nil
		}
	}
	return nil, logical.InvalidRequest("no mount at %s", p)
}

func (c *Core) sysReadMount(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		e, err := c.findMount(auth, m.Get("path"))
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: c.mountOutput(e)}, nil
	}
}

// mountConfigInput is the config object of a mount request. It accepts
// every field the official client sends; the ones Coffer does not act on
// must stay at their zero values.
type mountConfigInput struct {
	DefaultLeaseTTL            mountTTL          `json:"default_lease_ttl"`
	MaxLeaseTTL                mountTTL          `json:"max_lease_ttl"`
	ForceNoCache               framework.Bool    `json:"force_no_cache"`
	Description                *string           `json:"description"`
	Options                    map[string]string `json:"options"`
	AuditNonHMACRequestKeys    []string          `json:"audit_non_hmac_request_keys"`
	AuditNonHMACResponseKeys   []string          `json:"audit_non_hmac_response_keys"`
	ListingVisibility          string            `json:"listing_visibility"`
	PassthroughRequestHeaders  []string          `json:"passthrough_request_headers"`
	AllowedResponseHeaders     []string          `json:"allowed_response_headers"`
	TokenType                  string            `json:"token_type"`
	AllowedManagedKeys         []string          `json:"allowed_managed_keys"`
	PluginVersion              string            `json:"plugin_version"`
	PluginName                 string            `json:"plugin_name"`
	OverridePinnedVersion      *bool             `json:"override_pinned_version"`
	DelegatedAuthAccessors     []string          `json:"delegated_auth_accessors"`
	IdentityTokenKey           string            `json:"identity_token_key"`
	TrimRequestTrailingSlashes *bool             `json:"trim_request_trailing_slashes"`
	UserLockoutConfig          *lockoutInput     `json:"user_lockout_config"`
}

// lockoutInput is user_lockout_config in a tune request.
type lockoutInput struct {
	Threshold         framework.Int      `json:"lockout_threshold"`
	Duration          framework.Duration `json:"lockout_duration"`
	CounterReset      framework.Duration `json:"lockout_counter_reset"`
	CounterResetAlias framework.Duration `json:"lockout_counter_reset_duration"`
	Disable           framework.Bool     `json:"lockout_disable"`
}

// mountInput is the body of sys/mounts/:path.
type mountInput struct {
	Type                  string            `json:"type"`
	Description           string            `json:"description"`
	Config                mountConfigInput  `json:"config"`
	Options               map[string]string `json:"options"`
	Local                 framework.Bool    `json:"local"`
	SealWrap              framework.Bool    `json:"seal_wrap"`
	ExternalEntropyAccess framework.Bool    `json:"external_entropy_access"`
	PluginName            string            `json:"plugin_name"`
	PluginVersion         string            `json:"plugin_version"`
}

func (c *Core) sysMount(auth bool) framework.Handler {
	return framework.Typed(func(ctx context.Context, req *logical.Request, m *framework.Match, in *mountInput) (*logical.Response, error) {
		return c.mountFromAPI(ctx, auth, m.Get("path"), in)
	})
}

func (c *Core) mountFromAPI(ctx context.Context, auth bool, path string, in *mountInput) (*logical.Response, error) {
	if in.ExternalEntropyAccess {
		return nil, logical.InvalidRequest("external_entropy_access is not supported")
	}
	if in.Config.PluginVersion != "" || in.PluginVersion != "" {
		return nil, logical.InvalidRequest("plugin versions are not supported: engines are built in")
	}
	typ := in.Type
	if typ == "" {
		typ = in.PluginName
	}
	opts := in.Options
	if opts == nil {
		opts = in.Config.Options
	}
	err := c.Mount(ctx, MountInput{
		Auth:        auth,
		Path:        path,
		Type:        typ,
		Description: in.Description,
		Config: MountConfig{
			DefaultLeaseTTL: in.Config.DefaultLeaseTTL.TTL,
			MaxLeaseTTL:     in.Config.MaxLeaseTTL.TTL,
		},
		Options:  opts,
		Local:    bool(in.Local),
		SealWrap: bool(in.SealWrap),
	})
	return nil, err
}

func (c *Core) sysUnmount(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		return nil, c.Unmount(ctx, auth, m.Get("path"))
	}
}

// tuneOutput is a mount's settings as sys/mounts/:path/tune reports them.
type tuneOutput struct {
	DefaultLeaseTTL int64             `json:"default_lease_ttl"`
	MaxLeaseTTL     int64             `json:"max_lease_ttl"`
	ForceNoCache    bool              `json:"force_no_cache"`
	Description     string            `json:"description"`
	Options         map[string]string `json:"options,omitempty"`
	UserLockout     *lockoutOutput    `json:"user_lockout_config,omitempty"`
}

// lockoutOutput is an auth mount's lockout setting as tune reads show it.
type lockoutOutput struct {
	Threshold    int   `json:"lockout_threshold"`
	Duration     int64 `json:"lockout_duration"`
	CounterReset int64 `json:"lockout_counter_reset"`
	Disable      bool  `json:"lockout_disable"`
}

func (c *Core) sysReadTune(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		e, err := c.findMount(auth, m.Get("path"))
		if err != nil {
			return nil, err
		}
		sv := mountSystemView{c: c, m: e.Config}
		out := tuneOutput{
			DefaultLeaseTTL: int64(sv.DefaultLeaseTTL() / time.Second),
			MaxLeaseTTL:     int64(sv.MaxLeaseTTL() / time.Second),
			Description:     e.Description,
			Options:         e.Options,
		}
		if auth {
			l := e.Config.Lockout.withDefaults()
			out.UserLockout = &lockoutOutput{Threshold: l.Threshold, Duration: int64(l.Duration / time.Second), CounterReset: int64(l.CounterReset / time.Second), Disable: l.Disable}
		}
		return &logical.Response{Data: out}, nil
	}
}

func (c *Core) sysTune(auth bool) framework.Handler {
	return framework.Typed(func(ctx context.Context, req *logical.Request, m *framework.Match, in *mountConfigInput) (*logical.Response, error) {
		return c.tuneFromAPI(ctx, auth, m.Get("path"), in)
	})
}

func (c *Core) tuneFromAPI(ctx context.Context, auth bool, path string, in *mountConfigInput) (*logical.Response, error) {
	var t TuneInput
	// The official client always sends both TTLs, "" for the one it does
	// not change: only a value that was given changes the mount.
	if in.DefaultLeaseTTL.Set {
		t.DefaultLeaseTTL = &in.DefaultLeaseTTL.TTL
	}
	if in.MaxLeaseTTL.Set {
		t.MaxLeaseTTL = &in.MaxLeaseTTL.TTL
	}
	t.Description = in.Description
	t.Options = in.Options
	if l := in.UserLockoutConfig; l != nil {
		reset := time.Duration(l.CounterReset)
		if reset == 0 {
			reset = time.Duration(l.CounterResetAlias)
		}
		if l.Threshold < 0 {
			return nil, logical.InvalidRequest("lockout_threshold must not be negative")
		}
		t.Lockout = &LockoutConfig{Threshold: int(l.Threshold), Duration: time.Duration(l.Duration), CounterReset: reset, Disable: bool(l.Disable)}
	}
	return nil, c.Tune(ctx, auth, path, t)
}

type remountInput struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type remountStatus struct {
	MigrationID   string            `json:"migration_id"`
	MigrationInfo map[string]string `json:"migration_info"`
}

func (c *Core) sysRemount(ctx context.Context, req *logical.Request, m *framework.Match, in *remountInput) (*logical.Response, error) {
	if in.From == "" || in.To == "" {
		return nil, logical.InvalidRequest("both \"from\" and \"to\" are required")
	}
	if err := c.Remount(ctx, in.From, in.To); err != nil {
		return nil, err
	}
	// Moving a mount is instant here (its data stays under the same UUID),
	// but clients poll a migration status as Vault's API has them do.
	st := &remountStatus{
		MigrationID: NewUUID(),
		MigrationInfo: map[string]string{
			"source_mount": strings.Trim(in.From, "/") + "/",
			"target_mount": strings.Trim(in.To, "/") + "/",
			"status":       "success",
		},
	}
	c.remounts.Store(st.MigrationID, st)
	return &logical.Response{Data: map[string]string{"migration_id": st.MigrationID}}, nil
}

func (c *Core) sysRemountStatus(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	v, ok := c.remounts.Load(m.Get("id"))
	if !ok {
		return nil, nil
	}
	return &logical.Response{Data: v}, nil
}

// keyStatus is sys/key-status's answer.
type keyStatus struct {
	Term        uint32 `json:"term"`
	InstallTime string `json:"install_time"`
	Encryptions uint64 `json:"encryptions"`
}

func (c *Core) sysRotate(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	info, err := c.barrier.Rotate(ctx)
	if err != nil {
		return nil, err
	}
	c.logger.Info("rotated barrier key", "term", info.Term)
	return nil, nil
}

func (c *Core) sysKeyStatus(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	info, err := c.barrier.KeyInfo()
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: keyStatus{
		Term:        info.Term,
		InstallTime: info.InstallTime.UTC().Format(time.RFC3339Nano),
		Encryptions: info.Encryptions,
	}}, nil
}

// uiMount is sys/internal/ui/mounts/:path's answer: which mount serves a
// path, so that clients can tell KV v1 from v2.
type uiMount struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Config      mountConfigOutput `json:"config"`
	Accessor    string            `json:"accessor"`
	UUID        string            `json:"uuid"`
	Local       bool              `json:"local"`
	SealWrap    bool              `json:"seal_wrap"`
}

func (c *Core) sysUIMount(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	route, _, ok := c.router.Match(p)
	if !ok {
		return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "preflight capability check returned 403, please ensure client's policies grant access to path \"" + p + "/\""}
	}
	for _, e := range c.Mounts() {
		if e.Path == route.Path {
			mo := c.mountOutput(&e)
			return &logical.Response{Data: uiMount{
				Path: e.Path, Type: e.Type, Description: e.Description, Options: e.Options,
				Config: mo.Config, Accessor: e.Accessor, UUID: e.UUID, Local: e.Local, SealWrap: e.SealWrap,
			}}, nil
		}
	}
	return nil, nil
}

func (c *Core) sysUIMounts(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	secret := map[string]mountOutput{}
	auth := map[string]mountOutput{}
	for _, e := range c.Mounts() {
		if e.IsAuth() {
			auth[userPath(&e)] = c.mountOutput(&e)
		} else {
			secret[e.Path] = c.mountOutput(&e)
		}
	}
	return &logical.Response{Data: map[string]any{"secret": secret, "auth": auth}}, nil
}
