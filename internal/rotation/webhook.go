package rotation

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
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/coffer-secrets/coffer/internal/logical"
)

// Webhook limits and defaults.
const (
	DefaultWebhookTimeout = 10 * time.Second
	MaxWebhookTimeout     = time.Minute
	DefaultMaxAttempts    = 3
	MaxMaxAttempts        = 10
	// MinHMACKeyBytes is the shortest HMAC key accepted.
	MinHMACKeyBytes = 16
)

// Header names of a webhook delivery.
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the
	// body under the rotator's hmac_key.
	SignatureHeader = "X-Coffer-Signature"
	// EventHeader names the kind of delivery, "kv-rotation".
	EventHeader = "X-Coffer-Event"
)

func (r *RotatorConfig) webhookTimeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultWebhookTimeout
}

func (r *RotatorConfig) attempts() int {
	if r.MaxAttempts > 0 {
		return r.MaxAttempts
	}
	return DefaultMaxAttempts
}

// checkWebhook validates a webhook rotator. The messages never quote the
// keys.
func (r *RotatorConfig) checkWebhook() error {
	u, err := url.Parse(r.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return logical.InvalidRequest("the webhook rotator's \"url\" must be an https:// URL")
	}
	if u.User != nil {
		return logical.InvalidRequest("the webhook rotator's \"url\" must not hold credentials; the payload is signed with \"hmac_key\"")
	}
	if len(r.HMACKey) < MinHMACKeyBytes {
		return logical.InvalidRequest("the webhook rotator needs an \"hmac_key\" of at least %d bytes", MinHMACKeyBytes)
	}
	if r.Timeout < 0 || r.Timeout > MaxWebhookTimeout {
		return logical.InvalidRequest("the webhook rotator's \"timeout\" must be between 0 (default %s) and %s", DefaultWebhookTimeout, MaxWebhookTimeout)
	}
	if r.MaxAttempts < 0 || r.MaxAttempts > MaxMaxAttempts {
		return logical.InvalidRequest("the webhook rotator's \"max_attempts\" must be between 0 (default %d) and %d", DefaultMaxAttempts, MaxMaxAttempts)
	}
	_, err = r.tlsConfig()
	return err
}

// tlsConfig builds the client TLS settings: the system roots or ca_cert,
// and the client certificate for mTLS.
func (r *RotatorConfig) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.CACert != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(r.CACert)) {
			return nil, logical.InvalidRequest("the webhook rotator's \"ca_cert\" holds no PEM certificate")
		}
		c.RootCAs = pool
	}
	if (r.ClientCert == "") != (r.ClientKey == "") {
		return nil, logical.InvalidRequest("the webhook rotator needs both \"client_cert\" and \"client_key\", or neither")
	}
	if r.ClientCert != "" {
		cert, err := tls.X509KeyPair([]byte(r.ClientCert), []byte(r.ClientKey))
		if err != nil {
			return nil, logical.InvalidRequest("the webhook rotator's \"client_cert\" and \"client_key\" are not a matching PEM pair")
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Change is what a rotator is told: the secret's path, the new version
// (pending) and the previous one, and the new values of the keys that
// were generated (never the old values).
type Change struct {
	Path            string
	Version         int
	PreviousVersion int
	Values          map[string]string
}

// Rotator puts a new value where it is used. Apply must be idempotent:
// after a crash the same change is applied again.
type Rotator interface {
	Apply(ctx context.Context, c Change) error
}

// Webhook is the webhook rotator: an HTTPS POST of a signed JSON payload.
type Webhook struct {
	cfg    RotatorConfig
	client *http.Client
	now    func() time.Time
	// MinBackoff is the first wait between attempts (doubles up to 5 s).
	MinBackoff time.Duration
	// Logger, if set, gets the detail of failed deliveries (the network
	// or TLS error), which the returned error leaves out.
	Logger *slog.Logger
}

// NewWebhook returns the webhook rotator of cfg, validated again.
func NewWebhook(cfg RotatorConfig) (*Webhook, error) {
	if err := cfg.checkWebhook(); err != nil {
		return nil, err
	}
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	return &Webhook{
		cfg:        cfg,
		client:     &http.Client{Transport: tr, Timeout: cfg.webhookTimeout(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:        time.Now,
		MinBackoff: 250 * time.Millisecond,
	}, nil
}

// Payload is the JSON body of a webhook delivery. Values holds the new
// values only when the rotator has send_values set; the old values are
// never sent.
type Payload struct {
	Event           string            `json:"event"`
	Path            string            `json:"path"`
	Version         int               `json:"version"`
	PreviousVersion int               `json:"previous_version"`
	Keys            []string          `json:"keys"`
	Values          map[string]string `json:"values,omitempty"`
	Timestamp       string            `json:"timestamp"`
}

// Sign returns the signature header value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// errPermanent marks an answer that retrying will not change.
var errPermanent = errors.New("permanent")

// Apply implements [Rotator]: it posts the change, retrying network
// errors, 429 and 5xx answers with backoff up to max_attempts times. A
// 2xx answer is success; redirects are not followed. Errors say what the
// hook answered, never what it sent, and only in generic words ("could
// not connect", "TLS handshake failed", "timed out", "HTTP 500"): the
// error reaches whoever may write the policy, and the network detail
// (addresses, ports, TLS alerts) would let them probe internal hosts. The
// detail goes to Logger.
func (w *Webhook) Apply(ctx context.Context, c Change) error {
	p := Payload{Event: "kv-rotation", Path: c.Path, Version: c.Version, PreviousVersion: c.PreviousVersion, Timestamp: w.now().UTC().Format(time.RFC3339Nano)}
	for k := range c.Values {
		p.Keys = append(p.Keys, k)
	}
	slices.Sort(p.Keys)
	if w.cfg.SendValues {
		p.Values = c.Values
	}
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode webhook payload: %w", err)
	}
	sig := Sign([]byte(w.cfg.HMACKey), body)
	bo := backoff.Backoff{Min: w.MinBackoff, Max: 5 * time.Second, Jitter: true}
	var last error
	for attempt := range w.cfg.attempts() {
		if attempt > 0 && !backoff.Sleep(ctx.Done(), bo.Next()) {
			return &logical.Error{Kind: logical.ErrUpstream, Msg: fmt.Sprintf("webhook rotator: %v (after %d attempts; stopped: %v)", last, attempt, ctx.Err()), Err: last}
		}
		last = w.post(ctx, body, sig)
		if last == nil || errors.Is(last, errPermanent) {
			break
		}
	}
	if last != nil {
		return &logical.Error{Kind: logical.ErrUpstream, Msg: "webhook rotator: " + last.Error(), Err: last}
	}
	return nil
}

func (w *Webhook) post(ctx context.Context, body []byte, sig string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set(EventHeader, "kv-rotation")
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a token in its query: not logged
		}
		reason := deliveryFailure(err)
		if w.Logger != nil {
			w.Logger.Warn("webhook rotator delivery failed", "reason", reason, "err", err)
		}
		return errors.New(reason)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return errors.New("the hook answered HTTP " + strconv.Itoa(resp.StatusCode))
	default:
		return fmt.Errorf("the hook answered HTTP %d: %w", resp.StatusCode, errPermanent)
	}
}

// deliveryFailure is the generic reason of a failed delivery: what may be
// shown to the policy's writer without describing the network.
func deliveryFailure(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var (
		rh tls.RecordHeaderError
		ae tls.AlertError
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
	)
	if errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &cv) || errors.As(err, &ua) ||
		errors.As(err, &he) || errors.As(err, &ci) || strings.Contains(err.Error(), "tls: ") ||
		strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		return "TLS handshake failed"
	}
	return "could not connect"
}

// Close releases the webhook's idle connections.
func (w *Webhook) Close() { w.client.CloseIdleConnections() }
