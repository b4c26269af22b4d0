package core

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/router"
)

// Storage keys of the audit devices' state, behind the barrier.
const (
	auditTableKey   = "core/audit"
	auditKeysPrefix = "core/audit-keys/"
	auditStatePref  = "core/audit-state/"
)

// AuditDeviceConfig is an audit device declared in the server's
// configuration file: enabled at every unseal, not removable through the
// API.
type AuditDeviceConfig struct {
	Path        string
	Type        string
	Description string
	Options     map[string]string
}

// auditEntry is one audit device in the table of API-enabled devices.
type auditEntry struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
	// FromConfig marks devices from the configuration file (not stored).
	FromConfig bool `json:"-"`
}

// auditKeys is how a device's keys are stored.
type auditKeys struct {
	HMAC    []byte `json:"hmac"`
	Signing []byte `json:"signing_seed"`
}

// normalizeAuditPath turns "file" into "file/".
func normalizeAuditPath(p string) (string, error) {
	p, err := router.CleanMountPath(p)
	if err != nil {
		return "", err
	}
	if strings.Count(p, "/") > 1 {
		return "", logical.InvalidRequest("invalid audit device path %q: use a single name", p)
	}
	return p, nil
}

// deviceKeys loads the device's keys, making them on first use.
func (c *Core) deviceKeys(ctx context.Context, path string) (audit.Keys, error) {
	key := auditKeysPrefix + strings.TrimSuffix(path, "/")
	e, err := c.barrier.Get(ctx, key)
	if err != nil {
		return audit.Keys{}, err
	}
	if e != nil {
		var k auditKeys
		if err := json.Unmarshal(e.Value, &k); err != nil || len(k.Signing) != ed25519.SeedSize {
			return audit.Keys{}, fmt.Errorf("decode audit keys of %s", path)
		}
		return audit.Keys{HMAC: k.HMAC, Signing: ed25519.NewKeyFromSeed(k.Signing)}, nil
	}
	k, err := audit.GenerateKeys()
	if err != nil {
		return audit.Keys{}, err
	}
	buf, _ := json.Marshal(auditKeys{HMAC: k.HMAC, Signing: k.Signing.Seed()})
	if err := c.barrier.Put(ctx, storageEntry(key, buf)); err != nil {
		return audit.Keys{}, fmt.Errorf("store audit keys: %w", err)
	}
	return k, nil
}

// openDevice builds and registers the device for e.
func (c *Core) openDevice(ctx context.Context, e *auditEntry) error {
	cfg, err := audit.ParseConfig(e.Type, e.Options)
	if err != nil {
		return err
	}
	if e.FromConfig || c.opts.AuditAnyDir {
		cfg.File.AllowAnyDir = true
	} else {
		cfg.File.AllowedDirs = c.opts.AuditAllowedDirs
		if cfg.Type == "file" && len(cfg.File.AllowedDirs) == 0 && cfg.File.Path != "stdout" && cfg.File.Path != "discard" {
			return logical.InvalidRequest("audit files cannot be enabled through the API on this server: list allowed directories in audit_allowed_dirs, or declare the device in the configuration file")
		}
	}
	keys, err := c.deviceKeys(ctx, e.Path)
	if err != nil {
		return err
	}
	var resume audit.ChainState
	if se, err := c.barrier.Get(ctx, auditStatePref+strings.TrimSuffix(e.Path, "/")); err == nil && se != nil {
		json.Unmarshal(se.Value, &resume)
	}
	d, err := audit.Open(cfg, audit.OpenParams{Path: e.Path, Keys: keys, Resume: resume, Clock: c.clock, Logger: c.opts.Logger.With("component", "audit", "device", e.Path)})
	if err != nil {
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "cannot open audit device " + e.Path + ": " + err.Error(), Err: err}
	}
	if err := c.broker.Register(d); err != nil {
		d.Close(ctx)
		return logical.InvalidRequest("%s", err.Error())
	}
	return nil
}

// loadAudit opens the configured devices and those enabled through the
// API. A device that cannot be opened stops the unseal: serving requests
// without the audit trail an operator asked for would fail open.
func (c *Core) loadAudit(ctx context.Context) error {
	var t []*auditEntry
	e, err := c.barrier.Get(ctx, auditTableKey)
	if err != nil {
		return fmt.Errorf("read audit table: %w", err)
	}
	if e != nil {
		if err := json.Unmarshal(e.Value, &t); err != nil {
			return fmt.Errorf("decode audit table: %w", err)
		}
	}
	for _, d := range c.opts.AuditDevices {
		path, err := normalizeAuditPath(d.Path)
		if err != nil {
			return err
		}
		t = slices.DeleteFunc(t, func(x *auditEntry) bool { return x.Path == path })
		t = append(t, &auditEntry{Path: path, Type: d.Type, Description: d.Description, Options: d.Options, FromConfig: true})
	}
	for _, d := range t {
		if err := c.openDevice(ctx, d); err != nil {
			return fmt.Errorf("enable audit device %s: %w", d.Path, err)
		}
	}
	c.auditTable = t
	return nil
}

// unloadAudit checkpoints and closes every device, keeping each chain's
// state for the next unseal.
func (c *Core) unloadAudit(ctx context.Context) {
	for _, d := range c.broker.Devices() {
		if st, err := d.State(ctx); err == nil {
			buf, _ := json.Marshal(st)
			if err := c.barrier.Put(ctx, storageEntry(auditStatePref+strings.TrimSuffix(d.Path(), "/"), buf)); err != nil {
				c.logger.Error("save audit chain state", "device", d.Path(), "err", err)
			}
		}
		if _, err := c.broker.Deregister(ctx, d.Path()); err != nil {
			c.logger.Error("close audit device", "device", d.Path(), "err", err)
		}
	}
	c.auditTable = nil
}

// ReloadAudit reopens audit files (for log rotation on SIGHUP).
func (c *Core) ReloadAudit(ctx context.Context) error {
	return c.broker.Reload(ctx)
}

func (c *Core) persistAudit(ctx context.Context, t []*auditEntry) error {
	var stored []*auditEntry
	for _, e := range t {
		if !e.FromConfig {
			stored = append(stored, e)
		}
	}
	buf, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	return c.barrier.Put(ctx, storageEntry(auditTableKey, buf))
}

// auditRecord collects what a request's audit entries say.
type auditRecord struct {
	caller     *caller
	route      *router.Route
	logged     bool // the request entry has been written
	start      time.Time
	mountType  string
	mountPoint string
}

func (c *Core) auditAuth(cl *caller) *audit.Auth {
	if cl == nil {
		return nil
	}
	e := cl.entry
	pols := e.Policies
	if len(cl.identity) > 0 {
		pols = slices.Concat(e.Policies, cl.identity)
	}
	return &audit.Auth{
		ClientToken:      string(cl.id),
		Accessor:         e.Accessor,
		DisplayName:      e.DisplayName,
		Policies:         pols,
		TokenPolicies:    e.Policies,
		IdentityPolicies: cl.identity,
		Metadata:         e.Meta,
		EntityID:         e.EntityID,
		TokenType:        e.Type,
		TokenTTL:         e.CreationTTL,
		TokenIssueTime:   e.CreationTime,
	}
}

func (c *Core) auditRequestPart(req *Request, rec *auditRecord) audit.Request {
	r := audit.Request{
		ID:          req.ID,
		Operation:   string(req.Operation),
		MountType:   rec.mountType,
		MountPoint:  rec.mountPoint,
		ClientToken: string(req.ClientToken),
		Path:        c.RedactPath(req.Path),
		Data:        json.RawMessage(req.Body),
		WrapTTL:     req.WrapTTL,
	}
	if rec.route != nil {
		r.MountAccessor = rec.route.Accessor
	}
	if rec.caller != nil {
		r.ClientTokenAccessor = rec.caller.entry.Accessor
	}
	if ip := req.Connection.RemoteIP(); ip != nil {
		r.RemoteAddress = ip.String()
	}
	return r
}

// auditing reports whether any audit device is enabled.
func (c *Core) auditing() bool { return len(c.broker.Devices()) > 0 }

// auditRequest writes the request entry; an error means no device could
// record it and the request must not run.
func (c *Core) auditRequest(ctx context.Context, req *Request, rec *auditRecord) error {
	if rec.logged {
		return nil
	}
	rec.logged = true
	if !c.auditing() {
		return nil
	}
	if rec.route != nil {
		rec.mountType, rec.mountPoint = rec.route.Type, rec.route.Path
	}
	err := c.broker.LogRequest(ctx, &audit.Entry{Time: rec.start, Auth: c.auditAuth(rec.caller), Request: c.auditRequestPart(req, rec)})
	if err != nil {
		return fmt.Errorf("audit the request: %w", err)
	}
	return nil
}

// clientError is the message a client got for err, safe to log.
func clientError(err error) string {
	if err == nil {
		return ""
	}
	if le, ok := errors.AsType[*logical.Error](err); ok {
		return le.Msg
	}
	if errors.Is(err, ErrSealed) {
		return err.Error()
	}
	return "internal error"
}

// auditResponse writes the response entry.
func (c *Core) auditResponse(ctx context.Context, req *Request, rec *auditRecord, resp *Response, rerr error) error {
	return c.auditResponseMsg(ctx, req, rec, resp, clientError(rerr))
}

// auditResponseMsg writes the response entry with the error message the
// client got ("" for none).
func (c *Core) auditResponseMsg(ctx context.Context, req *Request, rec *auditRecord, resp *Response, msg string) error {
	if !c.auditing() {
		return nil
	}
	e := &audit.Entry{Time: c.now(), Auth: c.auditAuth(rec.caller), Request: c.auditRequestPart(req, rec), Error: msg}
	if resp != nil {
		r := &audit.Response{MountType: resp.MountType, MountPoint: rec.mountPoint, LeaseID: resp.LeaseID}
		if lr := resp.Response; lr != nil {
			switch {
			case lr.Raw != nil && json.Valid(lr.Raw.Body):
				r.Data = lr.Raw.Body
			case lr.Data != nil:
				buf, err := json.Marshal(lr.Data)
				if err != nil {
					return fmt.Errorf("audit the response: %w", err)
				}
				r.Data = buf
			}
		}
		if a := resp.Auth; a != nil {
			r.Auth = &audit.Auth{ClientToken: a.ClientToken, Accessor: a.Accessor, Policies: a.Policies, TokenPolicies: a.TokenPolicies, IdentityPolicies: a.IdentityPolicies, Metadata: a.Metadata, EntityID: a.EntityID, TokenType: a.TokenType, TokenTTL: time.Duration(a.LeaseDuration) * time.Second}
		}
		if w := resp.Wrap; w != nil {
			ct, _ := time.Parse(time.RFC3339Nano, w.CreationTime)
			r.WrapInfo = &audit.WrapInfo{Token: w.Token, Accessor: w.Accessor, TTL: time.Duration(w.TTL) * time.Second, CreationTime: ct, CreationPath: w.CreationPath, WrappedAccessor: w.WrappedAccessor}
		}
		e.Response = r
	}
	if err := c.broker.LogResponse(ctx, e); err != nil {
		return fmt.Errorf("audit the response: %w", err)
	}
	return nil
}

// Exchange is the audit record of a request the HTTP layer serves itself
// (sys/health, sys/metrics, sys/unseal ...): [Core.BeginAudit] has
// recorded the request, [Exchange.End] records its outcome.
type Exchange struct {
	c   *Core
	req *Request
	rec *auditRecord
	on  bool // devices were enabled when the request was recorded
}

// BeginAudit records req, a request the HTTP layer serves itself, before
// it runs. With authorize set the caller must hold the permission the
// request's path and operation need (as for sys/metrics); a refusal is
// audited and returned. A server that is sealed has no devices: nothing is
// recorded, and End then records nothing either. An error other than a
// refusal means no device could record the request: it must not run.
func (c *Core) BeginAudit(ctx context.Context, req *Request, authorize bool) (*Exchange, error) {
	x := &Exchange{c: c, req: req, rec: &auditRecord{start: c.now(), mountType: "system", mountPoint: "sys/"}}
	if authorize {
		c.stateMu.RLock()
		defer c.stateMu.RUnlock()
		if c.Sealed() {
			return nil, ErrSealed
		}
		cl, err := c.authorize(ctx, req, nil, "")
		x.rec.caller = cl
		if err != nil {
			if aerr := c.auditRequest(ctx, req, x.rec); aerr != nil {
				return nil, aerr
			}
			if aerr := c.auditResponse(ctx, req, x.rec, nil, err); aerr != nil {
				return nil, aerr
			}
			return nil, err
		}
	}
	x.on = c.auditing()
	if !x.on {
		return x, nil
	}
	if err := c.auditRequest(ctx, req, x.rec); err != nil {
		return nil, err
	}
	return x, nil
}

// End records the outcome of the request: msg is the error the client is
// told ("" on success). An error means no device could record it and the
// client must get an error instead of the response.
func (x *Exchange) End(ctx context.Context, msg string) error {
	if !x.on {
		return nil
	}
	var resp *Response
	if msg == "" {
		resp = &Response{MountType: "system"}
	}
	return x.c.auditResponseMsg(ctx, x.req, x.rec, resp, msg)
}

// auditPaths are sys/audit, sys/audit/:path, its public key, and
// sys/audit-hash/:path.
func (c *Core) auditPaths() []*framework.Path {
	h := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return []*framework.Path{
		{Pattern: `audit/?`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysAuditList}), Synopsis: "List audit devices.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/public-key`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysAuditPublicKey}), Synopsis: "The key that verifies a device's signed checkpoints.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/head`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: c.sysAuditHead}), Synopsis: "A device's live chain head (seq and hash), signed: a file cut short ends before it.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/?`, Operations: h(map[logical.Operation]framework.Handler{
			logical.UpdateOperation: framework.Typed(c.sysAuditEnable),
			logical.DeleteOperation: c.sysAuditDisable,
		}), Synopsis: "Enable or disable an audit device.", TopLevel: true},
		{Pattern: `audit-hash/(?P<path>[^/]+)/?`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(c.sysAuditHash)}), Synopsis: "HMAC a value as a device writes it.", TopLevel: true},
	}
}

type auditOutput struct {
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
	Path        string            `json:"path"`
}

func (c *Core) sysAuditList(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	out := map[string]auditOutput{}
	for _, e := range c.auditTable {
		opts := maps.Clone(e.Options)
		if opts == nil {
			opts = map[string]string{}
		}
		out[e.Path] = auditOutput{Type: e.Type, Description: e.Description, Options: opts, Local: e.Local, Path: e.Path}
	}
	return &logical.Response{Data: out}, nil
}

type auditEnableInput struct {
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     framework.KVPairs `json:"options"`
	Local       framework.Bool    `json:"local"`
}

func (c *Core) sysAuditEnable(ctx context.Context, req *logical.Request, m *framework.Match, in *auditEnableInput) (*logical.Response, error) {
	path, err := normalizeAuditPath(m.Get("path"))
	if err != nil {
		return nil, err
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	for _, e := range c.auditTable {
		if e.Path == path {
			return nil, logical.InvalidRequest("path already in use: an audit device is enabled at %s", path)
		}
		if in.Type == "file" && e.Type == "file" && e.Options["file_path"] != "" && e.Options["file_path"] == in.Options["file_path"] {
			return nil, logical.InvalidRequest("audit device %s already writes to that file", e.Path)
		}
	}
	e := &auditEntry{Path: path, Type: in.Type, Description: in.Description, Options: map[string]string(in.Options), Local: bool(in.Local)}
	if err := c.openDevice(ctx, e); err != nil {
		return nil, err
	}
	t := append(slices.Clone(c.auditTable), e)
	if err := c.persistAudit(ctx, t); err != nil {
		c.broker.Deregister(ctx, path)
		return nil, err
	}
	c.auditTable = t
	c.logger.Info("enabled audit device", "path", path, "type", in.Type)
	return nil, nil
}

func (c *Core) sysAuditDisable(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	path, err := normalizeAuditPath(m.Get("path"))
	if err != nil {
		return nil, err
	}
	c.mountMu.Lock()
	defer c.mountMu.Unlock()
	i := slices.IndexFunc(c.auditTable, func(e *auditEntry) bool { return e.Path == path })
	if i < 0 {
		return nil, nil
	}
	if c.auditTable[i].FromConfig {
		return nil, logical.InvalidRequest("audit device %s comes from the configuration file and cannot be disabled through the API", path)
	}
	t := slices.Delete(slices.Clone(c.auditTable), i, i+1)
	if err := c.persistAudit(ctx, t); err != nil {
		return nil, err
	}
	c.auditTable = t
	if _, err := c.broker.Deregister(ctx, path); err != nil {
		c.logger.Error("close audit device", "device", path, "err", err)
	}
	c.logger.Info("disabled audit device", "path", path)
	return nil, nil
}

type auditHashInput struct {
	Input string `json:"input"`
}

func (c *Core) device(path string) (*audit.Device, error) {
	p, err := normalizeAuditPath(path)
	if err != nil {
		return nil, err
	}
	d, ok := c.broker.Device(p)
	if !ok {
		return nil, logical.InvalidRequest("no audit device at %s", p)
	}
	return d, nil
}

func (c *Core) sysAuditHash(ctx context.Context, req *logical.Request, m *framework.Match, in *auditHashInput) (*logical.Response, error) {
	d, err := c.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"hash": d.HashValue(in.Input)}}, nil
}

func (c *Core) sysAuditPublicKey(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	d, err := c.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"public_key": base64.StdEncoding.EncodeToString(d.PublicKey())}}, nil
}

// sysAuditHead reports where a device's chain stands (the seq and hash of
// its last line), signed with its checkpoint key, for `coffer audit verify
// -server` to compare a file with. The request's own entry is already
// written, so the head includes it.
func (c *Core) sysAuditHead(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	d, err := c.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	h, err := d.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit chain head: %w", err)
	}
	return &logical.Response{Data: map[string]any{"chain_id": h.ChainID, "seq": h.Seq, "hash": h.Hash, "time": h.Time, "signature": h.Signature}}, nil
}
