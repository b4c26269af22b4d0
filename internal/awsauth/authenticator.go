package awsauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
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

	mu     sync.Mutex
	tokens map[string]cachedToken // guarded by mu; by access key ID
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
// token is checked with a token lookup before each use, so a revoked one
// is replaced by a new login (which fails once the key is deleted).
func New(c *core.Core, opts Options) Authenticator {
	if opts.Mount == "" {
		opts.Mount = DefaultMount
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
		revision = rev
		return secrets, err
	})
	if aerr != nil {
		if cause != nil {
			a.logger.Error("aws request authentication failed", "err", cause)
		}
		if aerr.Code == CodeUnrecognizedClient {
			a.drop(id)
		}
		return "", aerr
	}
	if tok, ok := a.cached(ctx, id, revision); ok {
		return tok, nil
	}
	tok, err := a.login(ctx, r, ks, id, revision)
	if err != nil {
		a.logger.Error("aws request login failed", "err", err)
		if errors.Is(err, logical.ErrInvalidCredentials) || errors.Is(err, logical.ErrPermissionDenied) {
			return "", unrecognizedClient()
		}
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
	_, err := a.core.HandleRequest(ctx, &core.Request{
		Request:     &logical.Request{Operation: logical.ReadOperation, Path: "auth/token/lookup-self"},
		ClientToken: token.ID(ct.token),
	})
	if err != nil {
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
		a.store(id, cachedToken{token: tok, revision: revision, expires: a.now().Add(time.Duration(resp.Auth.LeaseDuration) * time.Second)})
	}
	return tok, nil
}

// store caches ct for key id, making room by dropping expired entries and
// then any one entry when the cache is full.
func (a *coreAuthenticator) store(id string, ct cachedToken) {
	a.mu.Lock()
	defer a.mu.Unlock()
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
}
