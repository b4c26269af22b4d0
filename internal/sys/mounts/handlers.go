package mounts

import (
	"context"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/router"
)

// configOutput is a mount's config as Vault reports it.
type configOutput struct {
	DefaultLeaseTTL          int64    `json:"default_lease_ttl"`
	MaxLeaseTTL              int64    `json:"max_lease_ttl"`
	ForceNoCache             bool     `json:"force_no_cache"`
	AuditNonHMACRequestKeys  []string `json:"audit_non_hmac_request_keys,omitempty"`
	AuditNonHMACResponseKeys []string `json:"audit_non_hmac_response_keys,omitempty"`
}

// mountOutput is one mount as sys/mounts reports it.
type mountOutput struct {
	Type                  string            `json:"type"`
	Description           string            `json:"description"`
	Accessor              string            `json:"accessor"`
	UUID                  string            `json:"uuid"`
	Config                configOutput      `json:"config"`
	Options               map[string]string `json:"options"`
	Local                 bool              `json:"local"`
	SealWrap              bool              `json:"seal_wrap"`
	ExternalEntropyAccess bool              `json:"external_entropy_access"`
	PluginVersion         string            `json:"plugin_version"`
	RunningPluginVersion  string            `json:"running_plugin_version"`
	RunningSha256         string            `json:"running_sha256"`
	DeprecationStatus     string            `json:"deprecation_status,omitempty"`
}

func (a *API) output(m *Entry) mountOutput {
	return mountOutput{
		Type:        m.Type,
		Description: m.Description,
		Accessor:    m.Accessor,
		UUID:        m.UUID,
		Config: configOutput{
			DefaultLeaseTTL: int64(m.DefaultLeaseTTL / time.Second),
			MaxLeaseTTL:     int64(m.MaxLeaseTTL / time.Second),

			AuditNonHMACRequestKeys:  m.AuditNonHMACRequestKeys,
			AuditNonHMACResponseKeys: m.AuditNonHMACResponseKeys,
		},
		Options:              m.Options,
		Local:                m.Local,
		SealWrap:             m.SealWrap,
		RunningPluginVersion: a.runningVersion(),
		DeprecationStatus:    "supported",
	}
}

func (a *API) runningVersion() string { return "v" + a.opts.Version + "+builtin.coffer" }

// systemMount describes sys/ itself in mount listings, as Vault does.
func (a *API) systemMount() mountOutput {
	id := a.opts.Core.ClusterID()
	accessor := "system"
	if len(id) >= 8 {
		accessor += "_" + id[:8]
	}
	return mountOutput{
		Type:                 "system",
		Description:          "system endpoints used for control, policy and debugging",
		Accessor:             accessor,
		UUID:                 id,
		RunningPluginVersion: a.runningVersion(),
	}
}

// userPath is how the API names a mount: "secret/", or "approle/" for
// the auth method at auth/approle/.
func userPath(m *Entry) string { return strings.TrimPrefix(m.Path, authPrefix) }

func (a *API) list(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		out := map[string]mountOutput{}
		if !auth {
			out["sys/"] = a.systemMount()
		}
		for _, e := range a.opts.Core.Mounts() {
			if e.IsAuth() == auth {
				out[userPath(&e)] = a.output(&e)
			}
		}
		return &logical.Response{Data: out}, nil
	}
}

// find returns the mount at the user-given path.
func (a *API) find(auth bool, path string) (*Entry, error) {
	p, err := router.CleanMountPath(path)
	if err != nil {
		return nil, err
	}
	if auth {
		p = authPrefix + p
	}
	for _, e := range a.opts.Core.Mounts() {
		if e.Path == p {
			return &e, nil
		}
	}
	return nil, logical.InvalidRequest("no mount at %s", p)
}

func (a *API) read(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		e, err := a.find(auth, m.Get("path"))
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: a.output(e)}, nil
	}
}

// configInput is the config object of a mount request. It accepts every
// field the official client sends; the ones Coffer does not act on must
// stay at their zero values.
type configInput struct {
	DefaultLeaseTTL            ttlInput               `json:"default_lease_ttl"`
	MaxLeaseTTL                ttlInput               `json:"max_lease_ttl"`
	ForceNoCache               framework.Bool         `json:"force_no_cache"`
	Description                *string                `json:"description"`
	Options                    map[string]string      `json:"options"`
	AuditNonHMACRequestKeys    framework.CommaStrings `json:"audit_non_hmac_request_keys"`
	AuditNonHMACResponseKeys   framework.CommaStrings `json:"audit_non_hmac_response_keys"`
	ListingVisibility          string                 `json:"listing_visibility"`
	PassthroughRequestHeaders  []string               `json:"passthrough_request_headers"`
	AllowedResponseHeaders     []string               `json:"allowed_response_headers"`
	TokenType                  string                 `json:"token_type"`
	AllowedManagedKeys         []string               `json:"allowed_managed_keys"`
	PluginVersion              string                 `json:"plugin_version"`
	PluginName                 string                 `json:"plugin_name"`
	OverridePinnedVersion      *bool                  `json:"override_pinned_version"`
	DelegatedAuthAccessors     []string               `json:"delegated_auth_accessors"`
	IdentityTokenKey           string                 `json:"identity_token_key"`
	TrimRequestTrailingSlashes *bool                  `json:"trim_request_trailing_slashes"`
	UserLockoutConfig          *lockoutInput          `json:"user_lockout_config"`
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
	Config                configInput       `json:"config"`
	Options               map[string]string `json:"options"`
	Local                 framework.Bool    `json:"local"`
	SealWrap              framework.Bool    `json:"seal_wrap"`
	ExternalEntropyAccess framework.Bool    `json:"external_entropy_access"`
	PluginName            string            `json:"plugin_name"`
	PluginVersion         string            `json:"plugin_version"`
}

func (a *API) mount(auth bool) framework.Handler {
	return framework.Typed(func(ctx context.Context, req *logical.Request, m *framework.Match, in *mountInput) (*logical.Response, error) {
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
		return nil, a.opts.Core.Mount(ctx, Input{
			Auth:            auth,
			Path:            m.Get("path"),
			Type:            typ,
			Description:     in.Description,
			DefaultLeaseTTL: in.Config.DefaultLeaseTTL.TTL,
			MaxLeaseTTL:     in.Config.MaxLeaseTTL.TTL,
			Options:         opts,
			Local:           bool(in.Local),
			SealWrap:        bool(in.SealWrap),

			AuditNonHMACRequestKeys:  []string(in.Config.AuditNonHMACRequestKeys),
			AuditNonHMACResponseKeys: []string(in.Config.AuditNonHMACResponseKeys),
		})
	})
}

func (a *API) unmount(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		return nil, a.opts.Core.Unmount(ctx, auth, m.Get("path"))
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

	AuditNonHMACRequestKeys  []string `json:"audit_non_hmac_request_keys,omitempty"`
	AuditNonHMACResponseKeys []string `json:"audit_non_hmac_response_keys,omitempty"`
}

// lockoutOutput is an auth mount's lockout setting as tune reads show it.
type lockoutOutput struct {
	Threshold    int   `json:"lockout_threshold"`
	Duration     int64 `json:"lockout_duration"`
	CounterReset int64 `json:"lockout_counter_reset"`
	Disable      bool  `json:"lockout_disable"`
}

func (a *API) readTune(auth bool) framework.Handler {
	return func(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
		e, err := a.find(auth, m.Get("path"))
		if err != nil {
			return nil, err
		}
		out := tuneOutput{
			DefaultLeaseTTL: int64(e.EffectiveDefaultTTL / time.Second),
			MaxLeaseTTL:     int64(e.EffectiveMaxTTL / time.Second),
			Description:     e.Description,
			Options:         e.Options,

			AuditNonHMACRequestKeys:  e.AuditNonHMACRequestKeys,
			AuditNonHMACResponseKeys: e.AuditNonHMACResponseKeys,
		}
		if auth {
			l := e.Lockout
			out.UserLockout = &lockoutOutput{Threshold: l.Threshold, Duration: int64(l.Duration / time.Second), CounterReset: int64(l.CounterReset / time.Second), Disable: l.Disable}
		}
		return &logical.Response{Data: out}, nil
	}
}

func (a *API) tune(auth bool) framework.Handler {
	return framework.Typed(func(ctx context.Context, req *logical.Request, m *framework.Match, in *configInput) (*logical.Response, error) {
		var t Tune
		// The official client always sends both TTLs, "" for the one it
		// does not change: only a value that was given changes the mount.
		if in.DefaultLeaseTTL.Set {
			t.DefaultLeaseTTL = &in.DefaultLeaseTTL.TTL
		}
		if in.MaxLeaseTTL.Set {
			t.MaxLeaseTTL = &in.MaxLeaseTTL.TTL
		}
		t.Description = in.Description
		t.Options = in.Options
		t.AuditNonHMACRequestKeys = []string(in.AuditNonHMACRequestKeys)
		t.AuditNonHMACResponseKeys = []string(in.AuditNonHMACResponseKeys)
		if l := in.UserLockoutConfig; l != nil {
			reset := time.Duration(l.CounterReset)
			if reset == 0 {
				reset = time.Duration(l.CounterResetAlias)
			}
			if l.Threshold < 0 {
				return nil, logical.InvalidRequest("lockout_threshold must not be negative")
			}
			t.Lockout = &Lockout{Threshold: int(l.Threshold), Duration: time.Duration(l.Duration), CounterReset: reset, Disable: bool(l.Disable)}
		}
		return nil, a.opts.Core.Tune(ctx, auth, m.Get("path"), t)
	})
}

type remountInput struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type remountStatus struct {
	MigrationID   string            `json:"migration_id"`
	MigrationInfo map[string]string `json:"migration_info"`
}

func (a *API) remount(ctx context.Context, req *logical.Request, m *framework.Match, in *remountInput) (*logical.Response, error) {
	if in.From == "" || in.To == "" {
		return nil, logical.InvalidRequest("both \"from\" and \"to\" are required")
	}
	if err := a.opts.Core.Remount(ctx, in.From, in.To); err != nil {
		return nil, err
	}
	// Moving a mount is instant here (its data stays under the same UUID),
	// but clients poll a migration status as Vault's API has them do.
	st := &remountStatus{
		MigrationID: a.opts.NewUUID(),
		MigrationInfo: map[string]string{
			"source_mount": strings.Trim(in.From, "/") + "/",
			"target_mount": strings.Trim(in.To, "/") + "/",
			"status":       "success",
		},
	}
	a.remounts.Store(st.MigrationID, st)
	return &logical.Response{Data: map[string]string{"migration_id": st.MigrationID}}, nil
}

func (a *API) remountStatus(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	v, ok := a.remounts.Load(m.Get("id"))
	if !ok {
		return nil, nil
	}
	return &logical.Response{Data: v}, nil
}

// ttlInput is a mount's default or max lease TTL in an API request:
// seconds or a duration string such as "1h", "system" for the server's
// setting (stored as zero), or "" for none given (a tune then leaves the
// setting as it is), as Vault reads these fields.
type ttlInput struct {
	// TTL is the value; zero for "system".
	TTL time.Duration
	// Set is true when a value other than "" or null was given.
	Set bool
}

// UnmarshalJSON implements [json.Unmarshaler].
func (t *ttlInput) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null", `""`:
		return nil
	case `"system"`:
		*t = ttlInput{Set: true}
		return nil
	}
	var d framework.Duration
	if err := d.UnmarshalJSON(b); err != nil {
		return err // names the field as a duration
	}
	*t = ttlInput{TTL: time.Duration(d), Set: true}
	return nil
}

// keyStatusOutput is sys/key-status's answer.
type keyStatusOutput struct {
	Term        uint32 `json:"term"`
	InstallTime string `json:"install_time"`
	Encryptions uint64 `json:"encryptions"`
}

func (a *API) rotate(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	term, err := a.opts.Core.RotateKey(ctx)
	if err != nil {
		return nil, err
	}
	a.opts.Logger.Info("rotated barrier key", "term", term)
	return nil, nil
}

func (a *API) keyStatus(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	info, err := a.opts.Core.KeyStatus()
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: keyStatusOutput{
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
	Config      configOutput      `json:"config"`
	Accessor    string            `json:"accessor"`
	UUID        string            `json:"uuid"`
	Local       bool              `json:"local"`
	SealWrap    bool              `json:"seal_wrap"`
}

func (a *API) uiMount(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	route, ok := a.opts.Core.Route(p)
	if !ok {
		return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "preflight capability check returned 403, please ensure client's policies grant access to path \"" + p + "/\""}
	}
	for _, e := range a.opts.Core.Mounts() {
		if e.Path == route {
			mo := a.output(&e)
			return &logical.Response{Data: uiMount{
				Path: e.Path, Type: e.Type, Description: e.Description, Options: e.Options,
				Config: mo.Config, Accessor: e.Accessor, UUID: e.UUID, Local: e.Local, SealWrap: e.SealWrap,
			}}, nil
		}
	}
	return nil, nil
}

func (a *API) uiMounts(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	secret := map[string]mountOutput{}
	auth := map[string]mountOutput{}
	for _, e := range a.opts.Core.Mounts() {
		if e.IsAuth() {
			auth[userPath(&e)] = a.output(&e)
		} else {
			secret[e.Path] = a.output(&e)
		}
	}
	return &logical.Response{Data: map[string]any{"secret": secret, "auth": auth}}, nil
}
