// Package webhook delivers events to HTTPS endpoints: the webhook
// subscriptions of sys/events/webhooks/NAME, a durable outbox behind the
// barrier, signed deliveries retried with backoff, and a dead-letter list
// an operator can read and replay.
//
// Delivery is at least once: an event is written to the outbox of every
// webhook it matches when it is published, and leaves it only once the
// endpoint answered 2xx (or it moves to the dead letters after
// MaxAttempts failures). A restart resumes from the outbox. Only the
// active node delivers ([Options.Active]).
//
// It imports the event bus, the storage interface, framework for its
// endpoints and the backoff and uuid leaves; core drives it.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Limits and defaults.
const (
	// Prefix is where webhooks keep their data in the barrier.
	Prefix = "sys/events/webhooks/"
	// MaxOutbox bounds the undelivered events of one webhook; events past
	// it are dropped (and counted in the log).
	MaxOutbox = 10000
	// MaxDeadLetters bounds the dead letters of one webhook; the oldest
	// go first.
	MaxDeadLetters = 1000
	// MaxWebhooks bounds the webhooks of a server.
	MaxWebhooks = 64
	// DefaultMaxAttempts is how many times an event is tried before it
	// becomes a dead letter.
	DefaultMaxAttempts = 5
	// DefaultTimeout bounds one delivery.
	DefaultTimeout = 10 * time.Second
	// maxResponse is how much of an endpoint's answer is read.
	maxResponse = 4096
)

// Header names of a delivery. The signature is
// "sha256=" + hex(HMAC-SHA256(key, timestamp + "." + body)).
const (
	HeaderSignature = "X-Coffer-Signature"
	HeaderTimestamp = "X-Coffer-Timestamp"
	HeaderEventID   = "X-Coffer-Event-Id"
	HeaderEventType = "X-Coffer-Event-Type"
)

// Sign returns the signature header value of body sent at timestamp
// (Unix seconds, as sent in [HeaderTimestamp]) with key.
func Sign(key []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Config is a webhook as stored (behind the barrier). HMACKey and
// ClientKeyPEM are never read back through the API.
type Config struct {
	Name          string        `json:"name"`
	URL           string        `json:"url"`
	EventTypes    []string      `json:"event_types"`
	PathFilter    string        `json:"path_filter,omitempty"`
	HMACKey       []byte        `json:"hmac_key"`
	Timeout       time.Duration `json:"timeout"`
	MaxAttempts   int           `json:"max_attempts"`
	CAPEM         string        `json:"ca_pem,omitempty"`
	ClientCertPEM string        `json:"client_cert_pem,omitempty"`
	ClientKeyPEM  string        `json:"client_key_pem,omitempty"`
}

// matches reports whether e goes to c.
func (c *Config) matches(e *events.Event) bool {
	for _, t := range c.EventTypes {
		if (events.Filter{Type: t, Path: c.PathFilter}).Matches(e) {
			return true
		}
	}
	return false
}

// Letter is an event waiting in an outbox, or a dead letter.
type Letter struct {
	Key         string          `json:"key"`
	Event       json.RawMessage `json:"event"`
	Attempts    int             `json:"attempts"`
	NextAttempt time.Time       `json:"next_attempt"`
	LastError   string          `json:"last_error,omitempty"`
	FailedAt    time.Time       `json:"failed_at,omitzero"`
}

// Options configures a [Manager].
type Options struct {
	// Storage is the barrier (the manager keeps its keys under Prefix).
	Storage storage.Storage
	Logger  *slog.Logger
	// Now tells the time; nil means time.Now.
	Now func() time.Time
	// Active reports whether this node delivers (the active node).
	Active func() bool
	// RetryMin and RetryMax bound the wait between attempts; 0 means 1s
	// and 5m.
	RetryMin, RetryMax time.Duration
	// Poll is how often the outboxes are checked when nothing wakes the
	// deliverer; 0 means one second.
	Poll time.Duration
}

// Manager keeps the webhooks and delivers their outboxes. It is safe for
// concurrent use.
type Manager struct {
	opts Options
	wake chan struct{}
	// out serializes the writes to outboxes and dead letters with the
	// creation and deletion of webhooks, so that no write lands in the
	// keys of a webhook deleted meanwhile (they would reach a new webhook
	// of the same name). It is taken before mu.
	out sync.Mutex
	mu  sync.Mutex
	// hooks are the loaded webhooks by name, with their clients; guarded
	// by mu.
	hooks map[string]*hook
}

type hook struct {
	cfg    *Config
	client *http.Client
	// pending counts the events in the outbox, for MaxOutbox; guarded by
	// the manager's mu.
	pending int
}

// New returns a manager with no webhooks loaded. It starts nothing.
func New(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Active == nil {
		opts.Active = func() bool { return true }
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Minute
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	return &Manager{opts: opts, wake: make(chan struct{}, 1), hooks: map[string]*hook{}}
}

func configKey(name string) string { return Prefix + "config/" + name }
func outboxPrefix(name string) string {
	return Prefix + "outbox/" + name + "/"
}
func deadPrefix(name string) string { return Prefix + "dead/" + name + "/" }

// Load reads the webhooks from storage (at unseal).
func (m *Manager) Load(ctx context.Context) error {
	m.out.Lock()
	defer m.out.Unlock()
	names, err := m.opts.Storage.List(ctx, Prefix+"config/")
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	hooks := map[string]*hook{}
	for _, n := range names {
		cfg, err := m.readConfig(ctx, n)
		if err != nil {
			return err
		}
		if cfg == nil {
			continue
		}
		h, err := newHook(cfg)
		if err != nil {
			m.opts.Logger.Error("webhook has a bad TLS configuration; it is skipped", "webhook", n, "err", err)
			continue
		}
		pending, err := m.opts.Storage.List(ctx, outboxPrefix(n))
		if err != nil {
			return fmt.Errorf("list webhook outbox: %w", err)
		}
		h.pending = len(pending)
		hooks[n] = h
	}
	m.mu.Lock()
	m.hooks = hooks
	m.mu.Unlock()
	m.poke()
	return nil
}

// Reset forgets the loaded webhooks (at seal).
func (m *Manager) Reset() {
	m.mu.Lock()
	m.hooks = map[string]*hook{}
	m.mu.Unlock()
}

func (m *Manager) readConfig(ctx context.Context, name string) (*Config, error) {
	e, err := m.opts.Storage.Get(ctx, configKey(name))
	if err != nil || e == nil {
		return nil, err
	}
	var c Config
	if err := json.Unmarshal(e.Value, &c); err != nil {
		return nil, fmt.Errorf("decode webhook %s: %w", name, err)
	}
	return &c, nil
}

// newHook builds the client of cfg.
func newHook(cfg *Config) (*hook, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CAPEM)) {
			return nil, errors.New("ca_pem holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCertPEM != "" || cfg.ClientKeyPEM != "" {
		cert, err := tls.X509KeyPair([]byte(cfg.ClientCertPEM), []byte(cfg.ClientKeyPEM))
		if err != nil {
			return nil, errors.New("client_cert_pem and client_key_pem are not a matching PEM certificate and key")
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute}
	return &hook{cfg: cfg, client: &http.Client{
		Transport: tr,
		Timeout:   cfg.Timeout,
		// A redirect could send the signed event elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Enqueue writes e to the outbox of every webhook it matches; it is the
// bus hook. Writing is synchronous, so an event published by a request is
// in the outboxes before the request answers.
func (m *Manager) Enqueue(e *events.Event) {
	m.mu.Lock()
	none := len(m.hooks) == 0
	m.mu.Unlock()
	if none {
		return // the common case: no webhook, no need to wait for m.out
	}
	m.out.Lock()
	defer m.out.Unlock()
	m.mu.Lock()
	var names []string
	for n, h := range m.hooks {
		if !h.cfg.matches(e) {
			continue
		}
		if h.pending >= MaxOutbox {
			m.opts.Logger.Error("webhook outbox is full; event dropped", "webhook", n, "event_type", e.Type, "event_id", e.ID)
			continue
		}
		h.pending++
		names = append(names, n)
	}
	m.mu.Unlock()
	if len(names) == 0 {
		return
	}
	body, err := json.Marshal(e)
	if err != nil {
		return
	}
	// The event outlives the request that made it: a bounded write of its
	// own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := m.opts.Now()
	key := fmt.Sprintf("%020d-%s", now.UnixNano(), e.ID)
	for _, n := range names {
		l := Letter{Key: key, Event: body, NextAttempt: now}
		if err := m.putLetter(ctx, outboxPrefix(n)+key, &l); err != nil {
			m.opts.Logger.Error("write webhook outbox", "webhook", n, "err", err)
			m.addPending(n, -1)
		}
	}
	m.poke()
}

// current reports whether h is still the webhook of its name (not
// deleted, replaced or reloaded since the caller took it).
func (m *Manager) current(h *hook) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hooks[h.cfg.Name] == h
}

// addPending changes the outbox count of webhook name by d.
func (m *Manager) addPending(name string, d int) {
	m.mu.Lock()
	if h := m.hooks[name]; h != nil {
		h.pending = max(0, h.pending+d)
	}
	m.mu.Unlock()
}

func (m *Manager) putLetter(ctx context.Context, key string, l *Letter) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return m.opts.Storage.Put(ctx, &storage.Entry{Key: key, Value: b})
}

// Run delivers the outboxes until ctx ends, on the active node only.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-m.wake:
		}
		if !m.opts.Active() {
			continue
		}
		m.mu.Lock()
		hooks := make([]*hook, 0, len(m.hooks))
		for _, h := range m.hooks {
			hooks = append(hooks, h)
		}
		m.mu.Unlock()
		// Webhooks are delivered side by side, so that a slow endpoint
		// delays the others by at most one of its timeouts a round.
		var wg sync.WaitGroup
		for _, h := range hooks {
			wg.Go(func() {
				if err := m.deliverOutbox(ctx, h); err != nil && ctx.Err() == nil {
					m.opts.Logger.Error("webhook outbox", "webhook", h.cfg.Name, "err", err)
				}
			})
		}
		wg.Wait()
	}
}

// deliverOutbox tries every due letter of h, oldest first.
func (m *Manager) deliverOutbox(ctx context.Context, h *hook) error {
	prefix := outboxPrefix(h.cfg.Name)
	keys, err := m.opts.Storage.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if ctx.Err() != nil {
			return nil
		}
		e, err := m.opts.Storage.Get(ctx, prefix+k)
		if err != nil || e == nil {
			continue
		}
		var l Letter
		if err := json.Unmarshal(e.Value, &l); err != nil {
			return fmt.Errorf("decode outbox entry: %w", err)
		}
		if m.opts.Now().Before(l.NextAttempt) {
			// Later events wait for this one, so that an endpoint sees
			// them in order.
			return nil
		}
		if !m.current(h) {
			// Deleted or replaced since this round began: a new webhook
			// of the name must not get its letters through h's endpoint.
			return nil
		}
		derr := m.send(ctx, h, l.Event)
		if derr != nil && ctx.Err() != nil {
			return nil
		}
		done, err := m.settle(ctx, h, k, &l, derr)
		if err != nil || !done {
			return err
		}
	}
	return nil
}

// settle records the outcome derr of sending letter k of h: it leaves the
// outbox on success or as a dead letter after MaxAttempts, else it waits
// for its next attempt. It reports whether the next letter may go now.
// When h was deleted or replaced while it was sent, a delivered letter's
// key is deleted (it is gone already, or an update took it over) and
// nothing else is written.
func (m *Manager) settle(ctx context.Context, h *hook, k string, l *Letter, derr error) (bool, error) {
	m.out.Lock()
	defer m.out.Unlock()
	if !m.current(h) {
		if derr == nil {
			return false, m.opts.Storage.Delete(ctx, outboxPrefix(h.cfg.Name)+k)
		}
		return false, nil
	}
	prefix := outboxPrefix(h.cfg.Name)
	if derr == nil {
		if err := m.opts.Storage.Delete(ctx, prefix+k); err != nil {
			return false, err
		}
		m.addPending(h.cfg.Name, -1)
		return true, nil
	}
	l.Attempts++
	l.LastError = derr.Error()
	if l.Attempts >= h.cfg.MaxAttempts {
		l.FailedAt = m.opts.Now().UTC()
		if err := m.bury(ctx, h.cfg.Name, k, l); err != nil {
			return false, err
		}
		m.addPending(h.cfg.Name, -1)
		m.opts.Logger.Warn("webhook delivery failed for good; event moved to the dead letters", "webhook", h.cfg.Name, "attempts", l.Attempts, "err", l.LastError)
		return true, nil
	}
	b := backoff.Backoff{Min: m.opts.RetryMin, Max: m.opts.RetryMax}
	var wait time.Duration
	for range l.Attempts {
		wait = b.Next()
	}
	l.NextAttempt = m.opts.Now().Add(wait)
	// Later events wait for this one.
	return false, m.putLetter(ctx, prefix+k, l)
}

// bury moves an outbox letter to the dead letters in one transaction,
// dropping the oldest dead letter past MaxDeadLetters.
func (m *Manager) bury(ctx context.Context, name, key string, l *Letter) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	ops := []storage.Op{
		{Kind: storage.OpDelete, Entry: storage.Entry{Key: outboxPrefix(name) + key}},
		{Kind: storage.OpPut, Entry: storage.Entry{Key: deadPrefix(name) + key, Value: b}},
	}
	dead, err := m.opts.Storage.List(ctx, deadPrefix(name))
	if err != nil {
		return err
	}
	for i := 0; i+MaxDeadLetters <= len(dead); i++ {
		ops = append(ops, storage.Op{Kind: storage.OpDelete, Entry: storage.Entry{Key: deadPrefix(name) + dead[i]}})
	}
	return m.opts.Storage.Txn(ctx, ops)
}

// deliveryError is why a delivery failed, without the URL (which may hold
// a credential) or anything the endpoint said beyond its status.
type deliveryError struct{ msg string }

func (e *deliveryError) Error() string { return e.msg }

// send posts one event to h.
func (m *Manager) send(ctx context.Context, h *hook, body []byte) error {
	var ev events.Event
	_ = json.Unmarshal(body, &ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return &deliveryError{"bad url"}
	}
	ts := strconv.FormatInt(m.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "coffer-webhook")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderEventID, ev.ID)
	req.Header.Set(HeaderEventType, ev.Type)
	req.Header.Set(HeaderSignature, Sign(h.cfg.HMACKey, ts, body))
	resp, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return &deliveryError{"timed out"}
			}
			return &deliveryError{"request failed: " + ue.Err.Error()}
		}
		return &deliveryError{"request failed"}
	}
	defer resp.Body.Close()
	_, _ = bytes.NewBuffer(nil).ReadFrom(http.MaxBytesReader(nil, resp.Body, maxResponse))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &deliveryError{"endpoint answered " + strconv.Itoa(resp.StatusCode)}
	}
	return nil
}

// errNotFound is a missing webhook.
func errNotFound(name string) error {
	return &logical.Error{Kind: logical.ErrNotFound, Msg: "no webhook named " + name}
}
