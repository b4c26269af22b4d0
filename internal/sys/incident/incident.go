// Package incident serves sys/incident/*: contain a leaked credential
// (revoke the matching tokens with their child trees and leases, block
// new logins by the identity), release an incident's blocks, read and
// list incidents, hash their accessors for an audit device, and the
// emergency lockdown of a path prefix.
//
// Incidents are stored behind the barrier (the [logical.Storage] it is
// given, core's view of sys/incident/): record/ID holds the full record,
// open/ID the blocks of an open incident and lockdowns the lockdowns, so
// that [API.Load] (at unseal, and on a standby when those keys change)
// reads only small values. The compiled [incident.Guard] the pipeline
// checks on every request is kept in an atomic pointer.
//
// It reaches core only through the [Core] interface it declares and
// imports no core package. An [API] is safe for concurrent use; changes
// are serialized by one mutex.
package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage keys, relative to the view.
const (
	recordPrefix = "record/"
	openPrefix   = "open/"
	lockdownsKey = "lockdowns"
)

// attempts is how many times a containment step is tried before it is
// reported as failed (and left for the next run of contain).
const attempts = 3

// Core is what the endpoints need from core.
type Core interface {
	// Caller names the request's token.
	Caller(ctx context.Context) incident.Actor
	// Tokens returns every live token (service tokens; batch tokens are
	// not stored and die with their parent).
	Tokens(ctx context.Context) ([]incident.Token, error)
	// TokenLeases returns the lease IDs the token holds.
	TokenLeases(ctx context.Context, hash string) ([]string, error)
	// RevokeToken revokes a token, its descendants and all their leases.
	RevokeToken(ctx context.Context, hash string) error
	// Entity reports whether an entity exists and is disabled.
	Entity(ctx context.Context, id string) (exists, disabled bool, err error)
	// SetEntityDisabled disables or enables an entity.
	SetEntityDisabled(ctx context.Context, id string, disabled bool) error
	// DestroySecretID destroys the AppRole secret ID with the accessor, on
	// the mount and role given, or on any AppRole mount and role when
	// they are "". found is false when no such secret ID exists.
	DestroySecretID(ctx context.Context, mount, role, accessor string) (found bool, err error)
	// AuditHashes HMACs values as the audit device at path writes them.
	AuditHashes(ctx context.Context, device string, values []string) ([]string, error)
}

// Options configures [New].
type Options struct {
	// Storage is the view of sys/incident/ behind the barrier.
	Storage logical.Storage
	Core    Core
	Clock   logical.Clock
	Logger  *slog.Logger
	// NewID makes incident IDs.
	NewID func() string
}

// API serves sys/incident/* and holds the compiled guard.
type API struct {
	opts Options
	// mu serializes changes to incident records (contain, release).
	mu sync.Mutex
	// ldMu serializes lockdown changes, which must not wait behind a
	// long containment.
	ldMu sync.Mutex
	// loadMu serializes Load, so that the guard stored last is built from
	// the storage state read last.
	loadMu sync.Mutex
	guard  atomic.Pointer[incident.Guard]
}

// New returns the endpoints; call Load after unseal.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	return &API{opts: opts}
}

func (a *API) now() time.Time { return a.opts.Clock.Now().UTC() }

// Guard returns the blocks and lockdowns in force; nil blocks nothing.
func (a *API) Guard() *incident.Guard { return a.guard.Load() }

// Reset drops the guard (at seal).
func (a *API) Reset() { a.guard.Store(nil) }

// Load compiles the guard from storage: the blocks of open incidents and
// the lockdowns. Core calls it at unseal and when a standby sees a key
// under sys/incident/ change.
func (a *API) Load(ctx context.Context) error {
	a.loadMu.Lock()
	defer a.loadMu.Unlock()
	names, err := a.opts.Storage.List(ctx, openPrefix)
	if err != nil {
		return fmt.Errorf("list open incidents: %w", err)
	}
	var blocks []incident.Blocks
	for _, n := range names {
		var b incident.Blocks
		ok, err := getJSON(ctx, a.opts.Storage, openPrefix+n, &b)
		if err != nil {
			return err
		}
		if ok {
			blocks = append(blocks, b)
		}
	}
	lds, err := a.lockdowns(ctx)
	if err != nil {
		return err
	}
	a.guard.Store(incident.NewGuard(blocks, lds))
	return nil
}

// IsReservedKey reports whether a storage key (relative to the view)
// feeds the guard, for invalidation on standbys.
func IsReservedKey(key string) bool {
	return key == lockdownsKey || strings.HasPrefix(key, openPrefix)
}

func getJSON(ctx context.Context, st logical.Storage, key string, v any) (bool, error) {
	e, err := st.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", key, err)
	}
	if e == nil {
		return false, nil
	}
	if err := json.Unmarshal(e.Value, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func (a *API) lockdowns(ctx context.Context) ([]incident.Lockdown, error) {
	var lds []incident.Lockdown
	if _, err := getJSON(ctx, a.opts.Storage, lockdownsKey, &lds); err != nil {
		return nil, err
	}
	return lds, nil
}

// Paths returns the endpoints, relative to sys/, in match order.
func (a *API) Paths() []*framework.Path {
	type ops = map[logical.Operation]framework.Handler
	return []*framework.Path{
		{Pattern: `incident/contain`, Operations: ops{logical.UpdateOperation: framework.Typed(a.contain)}, Synopsis: "Contain a leaked credential: revoke its tokens, leases and children and block new logins."},
		{Pattern: `incident/release`, Operations: ops{logical.UpdateOperation: framework.Typed(a.release)}, Synopsis: "Lift an incident's blocks."},
		{Pattern: `incident/lockdown`, Operations: ops{
			logical.ReadOperation:   a.readLockdowns,
			logical.UpdateOperation: framework.Typed(a.setLockdown),
			logical.DeleteOperation: framework.Typed(a.liftLockdown),
		}, Synopsis: "Make a path prefix read-only or deny it to all but incident responders."},
		{Pattern: `incident/?`, Operations: ops{logical.ListOperation: a.list}, Synopsis: "List incidents."},
		{Pattern: `incident/(?P<id>[^/]+)/audit-hashes`, Operations: ops{logical.UpdateOperation: framework.Typed(a.auditHashes)}, Synopsis: "HMAC an incident's token accessors as an audit device writes them."},
		{Pattern: `incident/(?P<id>[^/]+)/rotations`, Operations: ops{logical.UpdateOperation: framework.Typed(a.recordRotations)}, Synopsis: "Record the outcomes of rotating what an incident exposed."},
		{Pattern: `incident/(?P<id>[^/]+)`, Operations: ops{logical.ReadOperation: a.read}, Synopsis: "Read an incident."},
	}
}

func (a *API) load(ctx context.Context, id string) (*incident.Record, error) {
	if id == "" || strings.ContainsAny(id, "/ ") || len(id) > 128 {
		return nil, logical.InvalidRequest("invalid incident id")
	}
	var r incident.Record
	ok, err := getJSON(ctx, a.opts.Storage, recordPrefix+id, &r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, logical.NotFound("no incident with that id")
	}
	return &r, nil
}

// save stores r with its guard index entry in one transaction.
func (a *API) save(ctx context.Context, r *incident.Record) error {
	r.UpdatedAt = a.now()
	buf, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode incident: %w", err)
	}
	ops := []logical.TxnOp{{Key: recordPrefix + r.ID, Value: buf}}
	if r.Status == incident.StatusOpen {
		b, err := json.Marshal(r.Blocks)
		if err != nil {
			return fmt.Errorf("encode incident blocks: %w", err)
		}
		ops = append(ops, logical.TxnOp{Key: openPrefix + r.ID, Value: b})
	} else {
		ops = append(ops, logical.TxnOp{Key: openPrefix + r.ID, Delete: true})
	}
	if err := a.opts.Storage.Txn(ctx, ops); err != nil {
		return fmt.Errorf("store incident: %w", err)
	}
	return nil
}

func (a *API) read(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	r, err := a.load(ctx, m.Get("id"))
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: r}, nil
}

// listItem is key_info for one incident in LIST sys/incident.
type listItem struct {
	Status   string `json:"status"`
	OpenedAt string `json:"opened_at"`
	Reason   string `json:"reason,omitempty"`
	Revoked  int    `json:"revoked"`
	Failed   int    `json:"failed_steps"`
}

func (a *API) list(ctx context.Context, _ *logical.Request, _ *framework.Match) (*logical.Response, error) {
	names, err := a.opts.Storage.List(ctx, recordPrefix)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	keys := []string{}
	info := map[string]listItem{}
	for _, n := range names {
		r, err := a.load(ctx, n)
		if err != nil {
			continue
		}
		keys = append(keys, n)
		info[n] = listItem{Status: r.Status, OpenedAt: r.OpenedAt.Format(time.RFC3339), Reason: r.Reason, Revoked: len(r.Revoked), Failed: len(r.Failed())}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	return &logical.Response{Data: map[string]any{"keys": keys, "key_info": info}}, nil
}

type hashInput struct {
	Device string `json:"device"`
}

func (a *API) auditHashes(ctx context.Context, _ *logical.Request, m *framework.Match, in *hashInput) (*logical.Response, error) {
	if in.Device == "" {
		return nil, logical.InvalidRequest("missing device: the path of the audit device whose log the report reads")
	}
	r, err := a.load(ctx, m.Get("id"))
	if err != nil {
		return nil, err
	}
	accs := slices.Concat(r.Accessors(), r.Criteria.Accessors)
	slices.Sort(accs)
	accs = slices.Compact(accs)
	hs, err := a.opts.Core.AuditHashes(ctx, in.Device, accs)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: map[string]any{"accessors": hs}}, nil
}

// errText is the client-safe text of a step's error.
func errText(err error) string {
	if le, ok := errors.AsType[*logical.Error](err); ok {
		return le.Msg
	}
	return "internal error (see the server log)"
}
