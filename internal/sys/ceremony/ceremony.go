// Package ceremony serves Vault's key ceremonies: rekeying the unseal key
// (sys/rekey/init, sys/rekey/update, sys/rekey/verify) and generating a
// root token (sys/generate-root/attempt, sys/generate-root/update).
//
// The ceremonies are served without a token, as Vault serves them: a
// threshold of key shares is the authority. Core still sends them through
// its pipeline, so they need the server unsealed and active and they are
// audited like any request (the audit devices HMAC every string in the
// bodies, key shares, OTP and encoded token included). Each kind has at
// most one attempt in memory, holding at most a threshold of shares (255
// at most, each checked for size before it is kept); every share is
// zeroed when its attempt ends, is cancelled, or [Ceremonies.Reset] runs
// (the server seals). Cancelling a running attempt needs its nonce, which
// keeps key holders on the same attempt; it is not access control (the
// tokenless status reads show it, as Vault's do).
//
// Both kinds run the same state machine: start (one attempt per kind, a
// fresh nonce), collect distinct current key shares up to the threshold,
// check them, then finish the kind's own way (a rekey hands out new unseal
// key shares, generate-root an encoded root token). The package reaches
// the server only through [Core]; it imports no core package. A
// [Ceremonies] is safe for concurrent use.
package ceremony

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/seal"
)

// Core is what the ceremonies need from the server.
type Core interface {
	// SealConfig returns the stored seal configuration; the server is
	// unsealed, so a missing one is an internal error.
	SealConfig(ctx context.Context) (seal.Config, error)
	// VerifyShares checks a threshold of unseal key shares and returns the
	// root key they open, which the caller zeroes. The error wraps
	// [seal.ErrBadKey] when the shares do not open it.
	VerifyShares(ctx context.Context, shares [][]byte) ([]byte, error)
	// VerifyRecoveryShares checks a threshold of recovery key shares (an
	// auto seal); the error wraps [seal.ErrBadKey] when they are wrong.
	VerifyRecoveryShares(ctx context.Context, shares [][]byte) error
	// RootKey returns a copy of the root key the barrier holds, which the
	// caller zeroes.
	RootKey() ([]byte, error)
	// Rekey makes newKey, split as cfg says, the unseal key; rootKey is
	// what it encrypts. Neither is retained.
	Rekey(ctx context.Context, cfg seal.Config, newKey, rootKey []byte) error
	// CreateRootToken creates a root token and returns its ID.
	CreateRootToken(ctx context.Context) (string, error)
}

// Options configures [New].
type Options struct {
	// Core is the server the ceremonies act on; required.
	Core Core
	// Logger receives lifecycle lines (a ceremony started, cancelled,
	// finished), never a share, pad or token; nil discards them.
	Logger *slog.Logger
	// NewID returns a fresh nonce (a UUID, as in Vault); required.
	NewID func() string
}

// Ceremonies holds the attempts in progress.
type Ceremonies struct {
	core   Core
	logger *slog.Logger
	newID  func() string

	mu      sync.Mutex
	running [kinds]attempt // guarded by mu; by kind, nil when none
}

// New returns the ceremonies of a server, with no attempt in progress.
func New(opts Options) *Ceremonies {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ceremonies{core: opts.Core, logger: opts.Logger, newID: opts.NewID}
}

// kind is one of the ceremonies.
type kind int

const (
	rekey kind = iota
	generateRoot
	kinds // the number of kinds
)

// String names the kind in messages to clients.
func (k kind) String() string {
	if k == rekey {
		return "rekey"
	}
	return "root generation"
}

// logName names the kind in the server's log.
func (k kind) logName() string {
	if k == rekey {
		return "rekey"
	}
	return "root token generation"
}

// noneMessage is the error of an update with no attempt of the kind.
func (k kind) noneMessage() string {
	if k == rekey {
		return "no barrier rekey in progress"
	}
	return "no root generation in progress"
}

// attempt is one ceremony in progress.
type attempt interface {
	// base is what every attempt has: its nonce and the current key
	// shares given so far.
	base() *progress
	// accepting reports whether the attempt still collects current key
	// shares, or why not.
	accepting() error
	// zero forgets every secret the attempt holds.
	zero()
}

// progress is the part common to every attempt.
type progress struct {
	nonce  string
	shares shareSet
}

func (p *progress) base() *progress { return p }

// Reset forgets every attempt, zeroing what they hold. The server calls it
// when it seals.
func (cs *Ceremonies) Reset() {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for k := range cs.running {
		cs.endLocked(kind(k))
	}
}

// endLocked forgets attempt k, zeroing it; cs.mu is held.
func (cs *Ceremonies) endLocked(k kind) {
	if a := cs.running[k]; a != nil {
		a.zero()
		cs.running[k] = nil
	}
}

// IsPath reports whether path (from the API root, e.g. "sys/rekey/init")
// is one of the unauthenticated ceremony endpoints.
func IsPath(path string) bool {
	switch path {
	case "sys/rekey/init", "sys/rekey/update", "sys/rekey/verify",
		"sys/generate-root/attempt", "sys/generate-root/update":
		return true
	}
	return false
}

// Handle serves a ceremony endpoint; req.Path is from the API root. Vault
// answers these endpoints with the object itself, not in the response
// envelope, so the response is raw JSON; a nil response means no content.
// Errors carry the [logical] kinds; a path IsPath refuses, or an
// operation the path does not serve, is [logical.ErrUnsupportedOperation].
func (cs *Ceremonies) Handle(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	type route struct {
		path string
		op   logical.Operation
	}
	handlers := map[route]func(context.Context, *logical.Request) (any, error){
		{"sys/rekey/init", logical.ReadOperation}:              cs.rekeyStatus,
		{"sys/rekey/init", logical.UpdateOperation}:            cs.rekeyInit,
		{"sys/rekey/init", logical.DeleteOperation}:            cs.cancelHandler(rekey),
		{"sys/rekey/update", logical.UpdateOperation}:          cs.rekeyUpdate,
		{"sys/rekey/verify", logical.ReadOperation}:            cs.rekeyVerifyStatus,
		{"sys/rekey/verify", logical.UpdateOperation}:          cs.rekeyVerifyUpdate,
		{"sys/rekey/verify", logical.DeleteOperation}:          cs.rekeyVerifyCancel,
		{"sys/generate-root/attempt", logical.ReadOperation}:   cs.genRootStatus,
		{"sys/generate-root/attempt", logical.UpdateOperation}: cs.genRootInit,
		{"sys/generate-root/attempt", logical.DeleteOperation}: cs.cancelHandler(generateRoot),
		{"sys/generate-root/update", logical.UpdateOperation}:  cs.genRootUpdate,
	}
	op := req.Operation
	if op == logical.CreateOperation {
		op = logical.UpdateOperation
	}
	h, ok := handlers[route{req.Path, op}]
	if !ok {
		return nil, logical.Unsupported(req.Operation, req.Path)
	}
	out, err := h(ctx, req)
	if err != nil || out == nil {
		return nil, err
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode %s answer: %w", req.Path, err)
	}
	return &logical.Response{Raw: &logical.RawResponse{ContentType: "application/json", Body: body}}, nil
}

// shareConfig is the share configuration attempt k collects: the unseal
// key's for a rekey; for generate-root the unseal key's with Shamir and
// the recovery key's with an auto seal (as in Vault, where the recovery
// keys are the authority then).
func (cs *Ceremonies) shareConfig(ctx context.Context, k kind) (seal.Config, error) {
	cur, err := cs.core.SealConfig(ctx)
	if err != nil || k == rekey || !cur.Auto() {
		return cur, err
	}
	return seal.Config{SecretShares: cur.RecoveryShares, SecretThreshold: cur.RecoveryThreshold}, nil
}

// statusLocked describes attempt k (never with its secrets); cs.mu is
// held.
func (cs *Ceremonies) statusLocked(k kind, cfg seal.Config) any {
	if k == rekey {
		return cs.rekeyStatusLocked(cfg)
	}
	return cs.genRootStatusLocked(cfg)
}

// status answers a status read of kind k.
func (cs *Ceremonies) status(ctx context.Context, k kind) (any, error) {
	cfg, err := cs.shareConfig(ctx, k)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.statusLocked(k, cfg), nil
}

// startLocked makes a the attempt of kind k, unless one is running, and
// logs it with the extra non-secret logArgs; cs.mu is held.
func (cs *Ceremonies) startLocked(k kind, a attempt, logArgs ...any) error {
	if cs.running[k] != nil {
		a.zero()
		return logical.InvalidRequest("%s already in progress", k)
	}
	cs.running[k] = a
	cs.logger.Info(k.logName()+" started", append([]any{"nonce", a.base().nonce}, logArgs...)...)
	return nil
}

// cancelHandler cancels attempt k; it needs the attempt's nonce, and
// cancelling when none runs does nothing.
func (cs *Ceremonies) cancelHandler(k kind) func(context.Context, *logical.Request) (any, error) {
	return func(_ context.Context, req *logical.Request) (any, error) {
		nonce, err := cancelNonce(req)
		if err != nil {
			return nil, err
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		a := cs.running[k]
		if a == nil {
			return nil, nil
		}
		if err := checkNonce(nonce, a.base().nonce); err != nil {
			return nil, err
		}
		cs.endLocked(k)
		cs.logger.Info(k.logName()+" cancelled", "nonce", a.base().nonce)
		return nil, nil
	}
}

// update adds the key share of req to attempt k and answers its status;
// the share that completes the threshold hands the attempt to complete,
// which runs with cs.mu held.
func (cs *Ceremonies) update(ctx context.Context, k kind, req *logical.Request, complete func(context.Context, seal.Config) (any, error)) (any, error) {
	in, share, err := readKeyInput(req)
	defer clear(share)
	if err != nil {
		return nil, err
	}
	cfg, err := cs.shareConfig(ctx, k)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	a := cs.running[k]
	if a == nil {
		return nil, logical.InvalidRequest("%s", k.noneMessage())
	}
	if err := a.accepting(); err != nil {
		return nil, err
	}
	p := a.base()
	if err := checkNonce(in.Nonce, p.nonce); err != nil {
		return nil, err
	}
	if err := p.shares.add(cfg, share); err != nil {
		return nil, err
	}
	if p.shares.len() < cfg.SecretThreshold {
		return cs.statusLocked(k, cfg), nil
	}
	return complete(ctx, cfg)
}

// checked runs verify on the threshold of shares p holds and forgets
// them; shares that do not prove the key are a 400 saying what, and the
// attempt stays, with no progress.
func checked[T any](p *progress, what string, verify func([][]byte) (T, error)) (T, error) {
	v, err := verify(p.shares.shares)
	p.shares.zero()
	if errors.Is(err, seal.ErrBadKey) {
		return v, logical.InvalidRequest("%s: the key shares do not open the barrier; progress was reset", what)
	}
	return v, err
}
