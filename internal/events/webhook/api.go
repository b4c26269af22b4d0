package webhook

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// validName is what a webhook may be called.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

const namePattern = `(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})`

// Paths returns the sys/ endpoints of the webhooks, relative to sys/:
// events/webhooks/ (list), events/webhooks/NAME (read, write, delete),
// events/webhooks/NAME/dead-letters (read) and .../replay (write).
func (m *Manager) Paths() []*framework.Path {
	return []*framework.Path{
		{Pattern: `events/webhooks/?`, Operations: map[logical.Operation]framework.Handler{logical.ListOperation: m.list}, Synopsis: "List the event webhooks."},
		{Pattern: `events/webhooks/` + namePattern + `/dead-letters`, Operations: map[logical.Operation]framework.Handler{logical.ReadOperation: m.readDead}, Synopsis: "Read a webhook's dead letters: events it failed to deliver."},
		{Pattern: `events/webhooks/` + namePattern + `/replay`, Operations: map[logical.Operation]framework.Handler{logical.UpdateOperation: framework.Typed(m.replay)}, Synopsis: "Send a webhook's dead letters again."},
		{Pattern: `events/webhooks/` + namePattern, Operations: map[logical.Operation]framework.Handler{
			logical.ReadOperation:   m.read,
			logical.UpdateOperation: framework.Typed(m.write),
			logical.DeleteOperation: m.delete,
		}, Synopsis: "Configure a webhook that receives events."},
	}
}

func (m *Manager) list(ctx context.Context, req *logical.Request, _ *framework.Match) (*logical.Response, error) {
	names, err := m.opts.Storage.List(ctx, Prefix+"config/")
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(names)
}

func (m *Manager) read(ctx context.Context, req *logical.Request, mt *framework.Match) (*logical.Response, error) {
	cfg, err := m.readConfig(ctx, mt.Get("name"))
	if err != nil || cfg == nil {
		return nil, err
	}
	pending, err := m.opts.Storage.List(ctx, outboxPrefix(cfg.Name))
	if err != nil {
		return nil, err
	}
	dead, err := m.opts.Storage.List(ctx, deadPrefix(cfg.Name))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{
		"name": cfg.Name, "url": redactURL(cfg.URL), "event_types": cfg.EventTypes, "path_filter": cfg.PathFilter,
		"timeout": int64(cfg.Timeout / time.Second), "max_attempts": cfg.MaxAttempts,
		"ca_pem": cfg.CAPEM, "client_cert_pem": cfg.ClientCertPEM,
		"hmac_key_set": len(cfg.HMACKey) > 0, "client_key_set": cfg.ClientKeyPEM != "",
		"pending": len(pending), "dead_letters": len(dead),
	}}, nil
}

// redactURL hides the password of a URL stored before credentials in URLs
// were refused.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

type writeInput struct {
	URL           string                 `json:"url"`
	EventTypes    framework.CommaStrings `json:"event_types"`
	PathFilter    string                 `json:"path_filter"`
	HMACKey       string                 `json:"hmac_key"`
	Timeout       framework.Duration     `json:"timeout"`
	MaxAttempts   framework.Int          `json:"max_attempts"`
	CAPEM         string                 `json:"ca_pem"`
	ClientCertPEM string                 `json:"client_cert_pem"`
	ClientKeyPEM  string                 `json:"client_key_pem"`
}

func (m *Manager) write(ctx context.Context, req *logical.Request, mt *framework.Match, in *writeInput) (*logical.Response, error) {
	name := mt.Get("name")
	if !validName.MatchString(name) {
		return nil, logical.InvalidRequest("webhook name must be letters, digits, '_', '.' or '-', at most 64")
	}
	old, err := m.readConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	if old == nil {
		names, err := m.opts.Storage.List(ctx, Prefix+"config/")
		if err != nil {
			return nil, err
		}
		if len(names) >= MaxWebhooks {
			return nil, logical.InvalidRequest("there are already %d webhooks, the most a server keeps", MaxWebhooks)
		}
	}
	u, err := url.Parse(in.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, logical.InvalidRequest("url must be an https:// URL")
	}
	if u.User != nil {
		// It would be read back and logged in clear; deliveries are
		// authenticated by their signature.
		return nil, logical.InvalidRequest("url must not hold credentials (user:password@): the endpoint authenticates deliveries by their hmac_key signature")
	}
	cfg := &Config{Name: name, URL: in.URL, PathFilter: in.PathFilter, CAPEM: in.CAPEM, ClientCertPEM: in.ClientCertPEM, ClientKeyPEM: in.ClientKeyPEM}
	cfg.EventTypes = slices.DeleteFunc(slices.Clone([]string(in.EventTypes)), func(s string) bool { return strings.TrimSpace(s) == "" })
	if len(cfg.EventTypes) == 0 {
		cfg.EventTypes = []string{"*"}
	}
	if len(cfg.EventTypes) > 32 {
		return nil, logical.InvalidRequest("event_types has more than 32 patterns")
	}
	for _, t := range cfg.EventTypes {
		if err := (events.Filter{Type: t, Path: cfg.PathFilter}).Check(); err != nil {
			return nil, logical.InvalidRequest("%s", err.Error())
		}
	}
	switch {
	case in.HMACKey != "":
		if len(in.HMACKey) < 16 || len(in.HMACKey) > 512 {
			return nil, logical.InvalidRequest("hmac_key must be 16 to 512 bytes")
		}
		cfg.HMACKey = []byte(in.HMACKey)
	case old != nil:
		cfg.HMACKey = old.HMACKey
	default:
		return nil, logical.InvalidRequest("missing hmac_key: the key that signs deliveries (16 to 512 bytes)")
	}
	if cfg.ClientKeyPEM == "" && old != nil && cfg.ClientCertPEM != "" && cfg.ClientCertPEM == old.ClientCertPEM {
		cfg.ClientKeyPEM = old.ClientKeyPEM
	}
	cfg.Timeout = time.Duration(in.Timeout)
	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultTimeout
	case cfg.Timeout < 0 || cfg.Timeout > time.Minute:
		return nil, logical.InvalidRequest("timeout must be between 1s and 60s")
	}
	cfg.MaxAttempts = int(in.MaxAttempts)
	switch {
	case cfg.MaxAttempts == 0:
		cfg.MaxAttempts = DefaultMaxAttempts
	case cfg.MaxAttempts < 0 || cfg.MaxAttempts > 50:
		return nil, logical.InvalidRequest("max_attempts must be between 1 and 50")
	}
	h, err := newHook(cfg)
	if err != nil {
		return nil, logical.InvalidRequest("%s", err.Error())
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	m.out.Lock()
	defer m.out.Unlock()
	if err := m.opts.Storage.Put(ctx, &storage.Entry{Key: configKey(name), Value: b}); err != nil {
		return nil, err
	}
	pending, err := m.opts.Storage.List(ctx, outboxPrefix(name))
	if err != nil {
		return nil, err
	}
	h.pending = len(pending)
	m.mu.Lock()
	m.hooks[name] = h
	m.mu.Unlock()
	return nil, nil
}

// delete removes a webhook with its outbox and dead letters, in one
// transaction.
func (m *Manager) delete(ctx context.Context, req *logical.Request, mt *framework.Match) (*logical.Response, error) {
	name := mt.Get("name")
	// Under out, no delivery or enqueue writes into the keys listed here
	// until the webhook is gone from the map as well.
	m.out.Lock()
	defer m.out.Unlock()
	ops := []storage.Op{{Kind: storage.OpDelete, Entry: storage.Entry{Key: configKey(name)}}}
	for _, p := range []string{outboxPrefix(name), deadPrefix(name)} {
		keys, err := m.opts.Storage.List(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: p + k}})
		}
	}
	if err := m.opts.Storage.Txn(ctx, ops); err != nil {
		return nil, err
	}
	m.mu.Lock()
	delete(m.hooks, name)
	m.mu.Unlock()
	return nil, nil
}

func (m *Manager) deadLetters(ctx context.Context, name string) ([]*Letter, error) {
	keys, err := m.opts.Storage.List(ctx, deadPrefix(name))
	if err != nil {
		return nil, err
	}
	out := make([]*Letter, 0, len(keys))
	for _, k := range keys {
		e, err := m.opts.Storage.Get(ctx, deadPrefix(name)+k)
		if err != nil {
			return nil, err
		}
		if e == nil {
			continue
		}
		var l Letter
		if err := json.Unmarshal(e.Value, &l); err != nil {
			return nil, err
		}
		out = append(out, &l)
	}
	return out, nil
}

func (m *Manager) readDead(ctx context.Context, req *logical.Request, mt *framework.Match) (*logical.Response, error) {
	name := mt.Get("name")
	cfg, err := m.readConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNotFound(name)
	}
	ls, err := m.deadLetters(ctx, name)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"dead_letters": ls}}, nil
}

type replayInput struct {
	// Keys, when set, replays only these dead letters.
	Keys framework.CommaStrings `json:"keys"`
}

// replay moves dead letters back to the outbox with their attempts reset,
// in one transaction.
func (m *Manager) replay(ctx context.Context, req *logical.Request, mt *framework.Match, in *replayInput) (*logical.Response, error) {
	name := mt.Get("name")
	m.out.Lock()
	defer m.out.Unlock()
	cfg, err := m.readConfig(ctx, name)
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errNotFound(name)
	}
	ls, err := m.deadLetters(ctx, name)
	if err != nil {
		return nil, err
	}
	var ops []storage.Op
	now := m.opts.Now()
	for _, l := range ls {
		if len(in.Keys) > 0 && !slices.Contains(in.Keys, l.Key) {
			continue
		}
		l.Attempts, l.LastError, l.FailedAt, l.NextAttempt = 0, "", time.Time{}, now
		b, err := json.Marshal(l)
		if err != nil {
			return nil, err
		}
		ops = append(ops,
			storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: deadPrefix(name) + l.Key}},
			storage.Op{Kind: storage.OpPut, Entry: storage.Entry{Key: outboxPrefix(name) + l.Key, Value: b}})
	}
	if len(ops) > 0 {
		if err := m.opts.Storage.Txn(ctx, ops); err != nil {
			return nil, err
		}
		m.addPending(name, len(ops)/2)
	}
	m.poke()
	return &logical.Response{Data: map[string]any{"replayed": len(ops) / 2}}, nil
}
