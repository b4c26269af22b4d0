package auditdev

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Paths returns sys/audit, sys/audit/:path, a device's public key and
// head, a file device's log verification and search, and
// sys/audit-hash/:path, relative to sys/, in match order.
func (t *Table) Paths() []*framework.Path {
	h := func(m map[logical.Operation]framework.Handler) map[logical.Operation]framework.Handler { return m }
	return []*framework.Path{
		{Pattern: `audit/?`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: t.list}), Synopsis: "List audit devices.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/public-key`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: t.publicKey}), Synopsis: "The key that verifies a device's signed checkpoints.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/head`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: t.head}), Synopsis: "A device's live chain head (seq and hash), signed: a file cut short ends before it.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/verify`, Operations: h(map[logical.Operation]framework.Handler{logical.ReadOperation: t.verify}), Synopsis: "Verify a file device's log: hash chain, checkpoint signatures, and that it reaches the live chain head.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/search`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(t.search)}), Synopsis: "Search a file device's log by path, operation, accessor, entity, time, status and value.", TopLevel: true},
		{Pattern: `audit/(?P<path>[^/]+)/?`, Operations: h(map[logical.Operation]framework.Handler{
			logical.UpdateOperation: framework.Typed(t.enable),
			logical.DeleteOperation: t.disable,
		}), Synopsis: "Enable or disable an audit device.", TopLevel: true},
		{Pattern: `audit-hash/(?P<path>[^/]+)/?`, Operations: h(map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(t.hash)}), Synopsis: "HMAC a value as a device writes it.", TopLevel: true},
	}
}

type deviceOutput struct {
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     map[string]string `json:"options"`
	Local       bool              `json:"local"`
	Path        string            `json:"path"`
}

func (t *Table) list(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]deviceOutput{}
	for _, e := range t.entries {
		opts := maps.Clone(e.Options)
		if opts == nil {
			opts = map[string]string{}
		}
		out[e.Path] = deviceOutput{Type: e.Type, Description: e.Description, Options: opts, Local: e.Local, Path: e.Path}
	}
	return &logical.Response{Data: out}, nil
}

type enableInput struct {
	Type        string            `json:"type"`
	Description string            `json:"description"`
	Options     framework.KVPairs `json:"options"`
	Local       framework.Bool    `json:"local"`
}

func (t *Table) enable(ctx context.Context, req *logical.Request, m *framework.Match, in *enableInput) (*logical.Response, error) {
	path, err := cleanPath(m.Get("path"))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.entries {
		if e.Path == path {
			return nil, logical.InvalidRequest("path already in use: an audit device is enabled at %s", path)
		}
		if in.Type == "file" && e.Type == "file" && e.Options["file_path"] != "" && e.Options["file_path"] == in.Options["file_path"] {
			return nil, logical.InvalidRequest("audit device %s already writes to that file", e.Path)
		}
	}
	e := &entry{Path: path, Type: in.Type, Description: in.Description, Options: map[string]string(in.Options), Local: bool(in.Local)}
	if err := t.open(ctx, e, false); err != nil {
		return nil, err
	}
	table := append(slices.Clone(t.entries), e)
	if err := t.persist(ctx, table); err != nil {
		t.opts.Broker.Deregister(ctx, path)
		return nil, err
	}
	t.entries = table
	t.logger.Info("enabled audit device", "path", path, "type", in.Type)
	return nil, nil
}

func (t *Table) disable(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	path, err := cleanPath(m.Get("path"))
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := slices.IndexFunc(t.entries, func(e *entry) bool { return e.Path == path })
	if i < 0 {
		return nil, nil
	}
	if t.entries[i].FromConfig {
		return nil, logical.InvalidRequest("audit device %s comes from the configuration file and cannot be disabled through the API", path)
	}
	table := slices.Delete(slices.Clone(t.entries), i, i+1)
	if err := t.persist(ctx, table); err != nil {
		return nil, err
	}
	t.entries = table
	t.closeLocked(ctx, path)
	delete(t.local, path) // a device enabled again at path starts afresh
	t.logger.Info("disabled audit device", "path", path)
	return nil, nil
}

type hashInput struct {
	Input string `json:"input"`
}

// device returns the enabled device at the user-given path.
func (t *Table) device(path string) (*audit.Device, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	d, ok := t.opts.Broker.Device(p)
	if !ok {
		return nil, logical.InvalidRequest("no audit device at %s", p)
	}
	return d, nil
}

func (t *Table) hash(ctx context.Context, req *logical.Request, m *framework.Match, in *hashInput) (*logical.Response, error) {
	d, err := t.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"hash": d.HashValue(in.Input)}}, nil
}

func (t *Table) publicKey(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	d, err := t.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]string{"public_key": base64.StdEncoding.EncodeToString(d.PublicKey())}}, nil
}

// head reports where a device's chain stands (the seq and hash of its
// last line), signed with its checkpoint key, for `coffer audit verify
// -server` to compare a file with. The request's own entry is already
// written, so the head includes it.
func (t *Table) head(ctx context.Context, req *logical.Request, m *framework.Match) (*logical.Response, error) {
	d, err := t.device(m.Get("path"))
	if err != nil {
		return nil, err
	}
	h, err := d.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("read audit chain head: %w", err)
	}
	return &logical.Response{Data: map[string]any{"chain_id": h.ChainID, "seq": h.Seq, "hash": h.Hash, "time": h.Time, "signature": h.Signature}}, nil
}
