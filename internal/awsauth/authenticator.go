package awsauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/token"
)

// DefaultMount is where the awskeys auth method is looked for.
const DefaultMount = "auth/awskeys/"

// Defaults of the token cache.
const (
	// DefaultMaxTokens bounds the cached tokens (one a key).
	DefaultMaxTokens = 10_000
	// tokenMargin is how long before its expiry a cached token is
	// replaced by a new login.
	tokenMargin = 30 * time.Second
)

// KeySource is what the Authenticator needs of the awskeys backend, as Go
// calls inside the server: the secrets valid now of a key (with its name
// and revision) and a one-use login ticket for it.
type KeySource interface {
	SigningSecrets(ctx context.Context, accessKeyID string) (name string, secrets []string, revision int64, err error)
	LoginTicket(accessKeyID string) (string, error)
}

// Options configure [New]. Zero values take the defaults.
type Options struct {
	// Mount is the awskeys mount path, DefaultMount when empty.
	Mount string
	// Verifier configures signature checks.
	Verifier VerifierOptions
	// MaxTokens bounds the token cache.
	MaxTokens int
	// Logger receives internal causes of failures; nil discards them.
	Logger *slog.Logger
}

// coreAuthenticator is the [Authenticator] of a running server.
type coreAuthenticator struct {
	core   *core.Core
	mount  string
	v      *Verifier
	now    func() time.Time
	max    int
	logger *slog.Logger

	// logins makes concurrent first requests of one key share a login.
	logins singleflight.Group

	mu     sync.Mutex
	tokens map[string]cachedToken // guarded by mu; by access key ID
}

// cachedTokens answers how many tokens are cached, for tests.
func (a *coreAuthenticator) cachedTokens() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tokens)
}

// cachedToken is a token made for one revision of a key.
type cachedToken struct {
	token    string
	expires  time.Time
	revision int64
}

// New returns the Authenticator of c: requests signed with a key of the
// awskeys mount at opts.Mount act with a token from a login through that
// mount, so they get the key's policies and entity and are audited.
// Tokens are cached per key until shortly before they expire; a cached
// token is checked with [core.Core.TokenLive] before each use (no audit
// entry, no use spent), so a revoked one is replaced by a new login (which
// fails once the key is deleted).
func New(c *core.Core, opts Options) Authenticator {
	if opts.Mount == "" {
		opts.Mount = DefaultMount
	}
	if !strings.HasSuffix(opts.Mount, "/") {
		opts.Mount += "/"
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = DefaultMaxTokens
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	now := opts.Verifier.Now
	if now == nil {
		now = time.Now
	}
	return &coreAuthenticator{
		core: c, mount: opts.Mount, v: NewVerifier(opts.Verifier), now: now,
		max: opts.MaxTokens, logger: opts.Logger, tokens: map[string]cachedToken{},
	}
}

// Authenticate implements [Authenticator].
func (a *coreAuthenticator) Authenticate(ctx context.Context, r *http.Request, body []byte) (string, error) {
	be, typ, ok := a.core.MountedBackend(a.mount)
	if !ok {
		if a.core.Sealed() {
			return "", &Error{Code: CodeServiceUnavailable, Message: "Coffer is sealed.", Status: http.StatusServiceUnavailable}
		}
		return "", &Error{Code: CodeServiceUnavailable, Message: "No awskeys auth method is enabled at " + a.mount + ".", Status: http.StatusServiceUnavailable}
	}
	ks, ok := be.(KeySource)
	if typ != "awskeys" || !ok {
		return "", &Error{Code: CodeServiceUnavailable, Message: "The auth method at " + a.mount + " is not of type awskeys.", Status: http.StatusServiceUnavailable}
	}
	var revision int64
	id, aerr, cause := a.v.Verify(ctx, r, body, func(ctx context.Context, id string) ([]string, error) {
		_, secrets, rev, err := ks.SigningSecrets(ctx, id)
		if err == nil && len(secrets) == 0 {
			a.drop(id) // the key was deleted: forget its token
		}
		revision = rev
		return secrets, err
	})
	if aerr != nil {
		if cause != nil {
			a.logger.Error("aws request authentication failed", "err", cause)
		}
		return "", aerr
	}
	if tok, ok := a.cached(ctx, id, revision); ok {
		return tok, nil
	}
	v, err, _ := a.logins.Do(id+"/"+strconv.FormatInt(revision, 10), func() (any, error) {
		return a.login(ctx, r, ks, id, revision)
	})
	tok, _ := v.(string)
	if err != nil {
		switch {
		case errors.Is(err, logical.ErrInvalidCredentials) || errors.Is(err, logical.ErrPermissionDenied):
			// The key was deleted meanwhile, its entity is disabled, an
			// incident blocks it, or the client is outside its CIDRs.
			a.logger.Warn("aws request refused at login", "access_key_id", id, "err", err)
			return "", unrecognizedClient()
		case errors.Is(err, ha.ErrStandby):
			// Only the active node makes tokens. Standbys forward AWS
			// requests before they get here; this is reached when the
			// node stepped down while verifying.
			return "", &Error{Code: CodeServiceUnavailable, Message: "This Coffer node became a standby while verifying the request; retry.", Status: http.StatusServiceUnavailable}
		case errors.Is(err, core.ErrSealed):
			return "", &Error{Code: CodeServiceUnavailable, Message: "Coffer is sealed.", Status: http.StatusServiceUnavailable}
		}
		a.logger.Error("aws request login failed", "access_key_id", id, "err", err)
		return "", internalFailure()
	}
	return tok, nil
}

// cached answers the cached token of key id if it was made for revision,
// is not about to expire and still works.
func (a *coreAuthenticator) cached(ctx context.Context, id string, revision int64) (string, bool) {
	a.mu.Lock()
	ct, ok := a.tokens[id]
	a.mu.Unlock()
	if !ok || ct.revision != revision || !a.now().Before(ct.expires.Add(-tokenMargin)) {
		return "", false
	}
	if live, err := a.core.TokenLive(ctx, ct.token); err != nil || !live {
		a.drop(id)
		return "", false
	}
	return ct.token, true
}

// drop forgets the cached token of key id.
func (a *coreAuthenticator) drop(id string) {
	a.mu.Lock()
	delete(a.tokens, id)
	a.mu.Unlock()
}

// login logs key id in through the awskeys mount with a one-use ticket
// and caches the token.
func (a *coreAuthenticator) login(ctx context.Context, r *http.Request, ks KeySource, id string, revision int64) (string, error) {
	ticket, err := ks.LoginTicket(id)
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(map[string]string{"access_key_id": id, "ticket": ticket})
	if err != nil {
		return "", err
	}
	resp, err := a.core.HandleRequest(ctx, &core.Request{Request: &logical.Request{
		Operation:  logical.UpdateOperation,
		Path:       a.mount + "login",
		Body:       body,
		Connection: &logical.Connection{RemoteAddr: r.RemoteAddr, TLS: r.TLS},
	}})
	if err != nil {
		return "", err
	}
	if resp == nil || resp.Auth == nil || resp.Auth.ClientToken == "" {
		return "", errors.New("awsauth: the awskeys login made no token")
	}
	tok := resp.Auth.ClientToken
	if resp.Auth.LeaseDuration > 0 && resp.Auth.NumUses == 0 {
		old := a.store(id, cachedToken{token: tok, revision: revision, expires: a.now().Add(time.Duration(resp.Auth.LeaseDuration) * time.Second)})
		if old != "" {
			a.revoke(ctx, old)
		}
	}
	return tok, nil
}

// revoke revokes a token this authenticator made and no longer hands out
// (made for an older revision of its key), so that tokens do not pile up
// until their TTL. A failure is only logged: the token expires anyway.
func (a *coreAuthenticator) revoke(ctx context.Context, tok string) {
	_, err := a.core.HandleRequest(ctx, &core.Request{
		Request:     &logical.Request{Operation: logical.UpdateOperation, Path: "auth/token/revoke-self"},
		ClientToken: token.ID(tok),
	})
	if err != nil {
		a.logger.Debug("revoke a replaced aws token", "err", err)
	}
}

// store caches ct for key id, making room by dropping expired entries and
// then any one entry when the cache is full. It answers the token ct
// replaces, "" when none.
func (a *coreAuthenticator) store(id string, ct cachedToken) (replaced string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.tokens[id]; ok && prev.token != ct.token {
		replaced = prev.token
	}
	if _, ok := a.tokens[id]; !ok && len(a.tokens) >= a.max {
		now := a.now()
		for k, v := range a.tokens {
			if !now.Before(v.expires) {
				delete(a.tokens, k)
			}
		}
		for k := range a.tokens {
			if len(a.tokens) < a.max {
				break
			}
			delete(a.tokens, k)
		}
	}
	a.tokens[id] = ct
	return replaced
}
