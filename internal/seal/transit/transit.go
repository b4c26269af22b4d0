// Package transit is the transit seal: an auto-unseal [seal.Wrapper] that
// wraps the root key with a key of the transit secrets engine of another
// Coffer or Vault server (Vault's seal "transit", with its configuration
// keys), through the official vault/api client.
//
// The wrapped value is transit's ciphertext ("vault:vN:..."); the key
// version it names lets the transit server decrypt after the key was
// rotated. A blob records the transit key's name and opens only with that
// key. A server that cannot be reached, or answers 5xx (such as a sealed
// one), gives [seal.ErrUnreachable]; a ciphertext transit refuses gives
// [seal.ErrUnwrap].
//
// [Wrapper.Run] renews the token until its context ends, unless renewal
// is disabled. It imports package seal, the vault/api client and the
// standard library; a Wrapper is safe for concurrent use.
package transit

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/coffer-secrets/coffer/internal/seal"
)

// Type is the seal type in the configuration.
const Type = "transit"

// formatVersion prefixes every plaintext sent to transit, which refuses
// empty plaintexts; Unwrap checks it.
const formatVersion = 1

// Options configures [New]; the names follow Vault's seal "transit" keys.
type Options struct {
	// Address is the transit server's URL. Required.
	Address string
	// Token authenticates to it. Required; never logged.
	Token string
	// KeyName is the transit key. Required.
	KeyName string
	// MountPath is where the transit engine is mounted; default
	// "transit/".
	MountPath string
	// DisableRenewal stops [Wrapper.Run] from renewing the token.
	DisableRenewal bool
	// TLS settings for an https Address.
	TLSCACert, TLSClientCert, TLSClientKey, TLSServerName string
	TLSSkipVerify                                         bool
	// Timeout bounds each request; default 10 s.
	Timeout time.Duration
	// Logger hears about token renewal; default discard.
	Logger *slog.Logger
}

// Wrapper is the transit seal.
type Wrapper struct {
	client  *api.Client
	addr    string
	key     string
	mount   string
	renew   bool
	logger  *slog.Logger
	timeout time.Duration
}

// New checks opts and builds the client. It does no I/O and starts no
// goroutine.
func New(opts Options) (*Wrapper, error) {
	switch {
	case opts.Address == "":
		return nil, errors.New("transit seal: address is required")
	case opts.Token == "":
		return nil, errors.New("transit seal: token is required")
	case opts.KeyName == "":
		return nil, errors.New("transit seal: key_name is required")
	}
	mount := strings.Trim(opts.MountPath, "/")
	if mount == "" {
		mount = "transit"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := api.DefaultConfig()
	cfg.Address = opts.Address
	cfg.MaxRetries = 0
	cfg.Timeout = opts.Timeout
	if opts.TLSCACert != "" || opts.TLSClientCert != "" || opts.TLSClientKey != "" || opts.TLSServerName != "" || opts.TLSSkipVerify {
		err := cfg.ConfigureTLS(&api.TLSConfig{
			CACert:        opts.TLSCACert,
			ClientCert:    opts.TLSClientCert,
			ClientKey:     opts.TLSClientKey,
			TLSServerName: opts.TLSServerName,
			Insecure:      opts.TLSSkipVerify,
		})
		if err != nil {
			return nil, fmt.Errorf("transit seal: TLS: %w", err)
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("transit seal: client: %w", err)
	}
	// The client reads VAULT_TOKEN and VAULT_NAMESPACE itself; the
	// configuration (with Vault's environment overrides applied) decides.
	c.SetToken(opts.Token)
	c.ClearNamespace()
	return &Wrapper{client: c, addr: opts.Address, key: opts.KeyName, mount: mount, renew: !opts.DisableRenewal, logger: opts.Logger, timeout: opts.Timeout}, nil
}

// Type returns "transit".
func (w *Wrapper) Type() string { return Type }

// Address returns the transit server's URL, for log messages.
func (w *Wrapper) Address() string { return w.addr }

// Wrap encrypts plaintext with the transit key.
func (w *Wrapper) Wrap(ctx context.Context, plaintext []byte) (*seal.Blob, error) {
	p := make([]byte, 0, len(plaintext)+1)
	p = append(append(p, formatVersion), plaintext...)
	defer clear(p)
	sec, err := w.client.Logical().WriteWithContext(ctx, w.mount+"/encrypt/"+w.key, map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(p),
	})
	if err != nil {
		return nil, w.classify("encrypt", err, false)
	}
	ct, _ := dataString(sec, "ciphertext")
	if ct == "" {
		return nil, fmt.Errorf("transit seal at %s: encrypt: no ciphertext in the answer", w.addr)
	}
	return &seal.Blob{Ciphertext: []byte(ct), KeyID: w.key}, nil
}

// Unwrap decrypts a blob made by Wrap with the same transit key.
func (w *Wrapper) Unwrap(ctx context.Context, b *seal.Blob) ([]byte, error) {
	if b.KeyID != w.key {
		return nil, fmt.Errorf("%w: the blob was made by transit key %q, this seal uses %q", seal.ErrUnwrap, b.KeyID, w.key)
	}
	if b.Mechanism != "" || len(b.Ciphertext) == 0 {
		return nil, fmt.Errorf("%w: malformed blob", seal.ErrUnwrap)
	}
	sec, err := w.client.Logical().WriteWithContext(ctx, w.mount+"/decrypt/"+w.key, map[string]any{
		"ciphertext": string(b.Ciphertext),
	})
	if err != nil {
		return nil, w.classify("decrypt", err, true)
	}
	enc, _ := dataString(sec, "plaintext")
	p, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(p) == 0 || p[0] != formatVersion {
		clear(p)
		return nil, fmt.Errorf("%w: unexpected plaintext format", seal.ErrUnwrap)
	}
	out := append([]byte{}, p[1:]...)
	clear(p)
	return out, nil
}

// classify maps a client error: no answer or 5xx is unreachable, a 400
// on decrypt is a refused blob, anything else (403: a bad token) is
// returned as it is.
func (w *Wrapper) classify(op string, err error, decrypt bool) error {
	var re *api.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("transit seal at %s: %s: %w: %v", w.addr, op, seal.ErrUnreachable, err)
	}
	switch {
	case re.StatusCode >= 500:
		return fmt.Errorf("transit seal at %s: %s: %w: status %d: %s", w.addr, op, seal.ErrUnreachable, re.StatusCode, strings.Join(re.Errors, "; "))
	case decrypt && re.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: transit refused the ciphertext: %s", seal.ErrUnwrap, strings.Join(re.Errors, "; "))
	default:
		return fmt.Errorf("transit seal at %s: %s: status %d: %s", w.addr, op, re.StatusCode, strings.Join(re.Errors, "; "))
	}
}

func dataString(sec *api.Secret, name string) (string, bool) {
	if sec == nil || sec.Data == nil {
		return "", false
	}
	s, ok := sec.Data[name].(string)
	return s, ok
}

// Close does nothing: the client holds only idle connections.
func (w *Wrapper) Close() error {
	w.client.SetToken("")
	return nil
}

// Run renews the token until ctx ends, at half its TTL each time, and
// returns nil then. A token without expiry needs no renewal; one that is
// not renewable is logged once. Failures are logged and retried with
// backoff (the token may still be valid, and the server may come back).
// With renewal disabled Run returns at once.
func (w *Wrapper) Run(ctx context.Context) error {
	if !w.renew {
		return nil
	}
	retry := backoff.Backoff{Min: time.Second, Max: time.Minute}
	for {
		wait, done := w.renewOnce(ctx)
		if done {
			return nil
		}
		if wait == 0 {
			wait = retry.Next()
		} else {
			retry.Reset()
		}
		if !backoff.Sleep(ctx.Done(), wait) {
			return nil
		}
	}
}

// renewOnce looks the token up and renews it; it returns how long to wait
// before the next renewal (0: retry with backoff) or done when no more
// renewal is needed.
func (w *Wrapper) renewOnce(ctx context.Context) (wait time.Duration, done bool) {
	if ctx.Err() != nil {
		return 0, true
	}
	rctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	self, err := w.client.Auth().Token().LookupSelfWithContext(rctx)
	if err != nil {
		w.logger.Warn("look up the transit seal token; retrying", "address", w.addr, "err", err)
		return 0, false
	}
	ttl, _ := self.TokenTTL()
	renewable, _ := self.TokenIsRenewable()
	switch {
	case self.Data["expire_time"] == nil:
		return 0, true // no expiry: nothing to renew
	case !renewable:
		w.logger.Warn("the transit seal token is not renewable; it expires", "address", w.addr, "ttl", ttl)
		return 0, true
	}
	sec, err := w.client.Auth().Token().RenewSelfWithContext(rctx, 0)
	if err != nil {
		w.logger.Warn("renew the transit seal token; retrying", "address", w.addr, "err", err)
		return 0, false
	}
	next := time.Duration(sec.Auth.LeaseDuration) * time.Second / 2
	w.logger.Debug("renewed the transit seal token", "address", w.addr, "ttl", time.Duration(sec.Auth.LeaseDuration)*time.Second)
	return max(next, time.Second), false
}
