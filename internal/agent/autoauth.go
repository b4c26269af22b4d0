package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/agent/config"
	"github.com/coffer-secrets/coffer/internal/atomicfile"
	"github.com/coffer-secrets/coffer/internal/backoff"
	"github.com/hashicorp/vault/api"
)

// tokenState is the agent's current token, shared by the goroutines that
// use it. Safe for concurrent use.
type tokenState struct {
	mu    sync.Mutex
	token string // guarded by mu

	readyOnce sync.Once
	ready     chan struct{} // closed once the first token is set
	// invalid receives a hint that a request was refused with 403: the
	// token may have been revoked.
	invalid chan struct{}
}

func newTokenState() *tokenState {
	return &tokenState{ready: make(chan struct{}), invalid: make(chan struct{}, 1)}
}

func (s *tokenState) set(tok string) {
	s.mu.Lock()
	s.token = tok
	s.mu.Unlock()
	s.readyOnce.Do(func() { close(s.ready) })
}

func (s *tokenState) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// refused reports a 403; it never blocks.
func (s *tokenState) refused() {
	select {
	case s.invalid <- struct{}{}:
	default:
	}
}

// authenticator logs in with a Method, writes sinks and keeps the token
// alive, logging in again when that fails.
type authenticator struct {
	method Method
	client *api.Client // the agent's client: its token is set here
	sinks  []config.Sink
	logger *slog.Logger
	state  *tokenState
	// authed receives one value after each login whose sinks are written.
	authed   chan struct{}
	min, max time.Duration
}

// run logs in until ctx ends. It returns nil when ctx ends.
func (a *authenticator) run(ctx context.Context) error {
	b := backoff.Backoff{Min: a.min, Max: a.max, Jitter: true}
	for {
		sec, err := a.login(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait := b.Next()
			a.logger.Warn("login failed; retrying", "error", err, "backoff", wait)
			if !backoff.Sleep(ctx.Done(), wait) {
				return nil
			}
			continue
		}
		b.Reset()
		tok := sec.Auth.ClientToken
		a.client.SetToken(tok)
		a.state.set(tok)
		for _, s := range a.sinks {
			if err := a.writeSink(ctx, s, tok); err != nil {
				a.logger.Error("write token sink", "path", s.Path, "error", err)
			}
		}
		ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
		a.logger.Info("authenticated", "ttl", ttl, "renewable", sec.Auth.Renewable)
		select {
		case a.authed <- struct{}{}:
		default:
		}
		a.keepAlive(ctx, ttl, sec.Auth.Renewable)
		if ctx.Err() != nil {
			return nil
		}
	}
}

func (a *authenticator) login(ctx context.Context) (*api.Secret, error) {
	c, err := a.client.Clone()
	if err != nil {
		return nil, fmt.Errorf("clone client: %w", err)
	}
	c.ClearToken()
	sec, err := a.method.Login(ctx, c)
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("login response holds no token")
	}
	return sec, nil
}

// keepAlive renews the token at two thirds of its TTL and returns when a
// new login is needed: renewal failed, the token cannot be renewed any
// longer, or it was refused and a lookup confirms it is gone.
func (a *authenticator) keepAlive(ctx context.Context, ttl time.Duration, renewable bool) {
	var timer *time.Timer
	if ttl > 0 {
		timer = time.NewTimer(ttl * 2 / 3)
		defer timer.Stop()
	}
	var fire <-chan time.Time
	if timer != nil {
		fire = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.state.invalid:
			if _, err := a.client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
				a.logger.Warn("token no longer valid; logging in again", "error", err)
				return
			}
		case <-fire:
			if !renewable {
				a.logger.Info("token is not renewable and nears expiry; logging in again")
				return
			}
			sec, err := a.client.Auth().Token().RenewSelfWithContext(ctx, int(ttl/time.Second))
			if err != nil || sec == nil || sec.Auth == nil {
				a.logger.Warn("token renewal failed; logging in again", "error", err)
				return
			}
			got := time.Duration(sec.Auth.LeaseDuration) * time.Second
			a.logger.Info("token renewed", "ttl", got)
			if got < ttl || !sec.Auth.Renewable {
				// The token reached its max TTL: log in again before
				// it expires instead of renewing.
				renewable = false
			}
			timer.Reset(got * 2 / 3)
		}
	}
}

// writeSink writes tok, or its wrapping, to s.
func (a *authenticator) writeSink(ctx context.Context, s config.Sink, tok string) error {
	data := []byte(tok)
	if s.WrapTTL > 0 {
		c, err := a.client.Clone()
		if err != nil {
			return fmt.Errorf("clone client: %w", err)
		}
		c.SetToken(tok)
		ttl := strconv.FormatInt(int64(s.WrapTTL/time.Second), 10) + "s"
		c.SetWrappingLookupFunc(func(string, string) string { return ttl })
		sec, err := c.Logical().WriteWithContext(ctx, "sys/wrapping/wrap", map[string]any{"token": tok})
		if err != nil {
			return fmt.Errorf("wrap token: %w", err)
		}
		if sec == nil || sec.WrapInfo == nil || sec.WrapInfo.Token == "" {
			return errors.New("wrap token: response holds no wrap info")
		}
		data, err = json.Marshal(sec.WrapInfo)
		if err != nil {
			return fmt.Errorf("encode wrap info: %w", err)
		}
	}
	return atomicfile.WriteFile(s.Path, data, s.Mode)
}

// AutoAuthOptions configure an [AutoAuth]. Method and Client are
// required.
type AutoAuthOptions struct {
	// Method logs in.
	Method Method
	// Client is the client whose token AutoAuth keeps set; it is used
	// for renewals too. Its token is replaced after every login.
	Client *api.Client
	// Logger receives login and renewal events (never a token); nil
	// discards them.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the waits between failed logins
	// (defaults 1s and 5m).
	MinBackoff, MaxBackoff time.Duration
}

// AutoAuth is the agent's auto-auth for programs that embed it rather
// than run the agent (the Kubernetes KMS plugin): it logs in with a
// [Method], renews the token, and logs in again when renewal fails, the
// token reaches its max TTL, or a refusal reported with [AutoAuth.Refused]
// is confirmed by a lookup. While the server is unreachable it retries
// with backoff. It writes no sink. Safe for concurrent use; build it with
// [NewAutoAuth].
type AutoAuth struct {
	a *authenticator
}

// NewAutoAuth returns an AutoAuth for o. It starts nothing: call Run.
func NewAutoAuth(o AutoAuthOptions) *AutoAuth {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	return &AutoAuth{a: &authenticator{method: o.Method, client: o.Client, logger: o.Logger,
		state: newTokenState(), authed: make(chan struct{}, 1), min: o.MinBackoff, max: o.MaxBackoff}}
}

// Run logs in and keeps the token alive until ctx ends; it returns nil
// then. Call it once.
func (a *AutoAuth) Run(ctx context.Context) error { return a.a.run(ctx) }

// Ready is closed once the first login succeeded.
func (a *AutoAuth) Ready() <-chan struct{} { return a.a.state.ready }

// Refused tells AutoAuth that the server refused the token (403): it
// looks the token up and logs in again when the token is gone. It never
// blocks.
func (a *AutoAuth) Refused() { a.a.state.refused() }
