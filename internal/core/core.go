// Package core is the heart of a Coffer server: it owns the seal state, the
// mount table, the token store and the request pipeline (seal check, token
// lookup, permission check, routing to the mounted backend).
//
// Core calls engines only through [logical.Backend] and never imports them;
// the factories come in through [Options]. It never imports httpapi, cli or
// server. All exported methods are safe for concurrent use: stateMu guards
// the sealed/unsealed transition, requests hold it for reading.
package core

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/events"
	"github.com/coffer-secrets/coffer/internal/events/webhook"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/identity"
	"github.com/coffer-secrets/coffer/internal/leaks"
	"github.com/coffer-secrets/coffer/internal/lease"
	"github.com/coffer-secrets/coffer/internal/lockout"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/mount"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/sys/auditdev"
	"github.com/coffer-secrets/coffer/internal/sys/ceremony"
	sysincident "github.com/coffer-secrets/coffer/internal/sys/incident"
	sysleaks "github.com/coffer-secrets/coffer/internal/sys/leaks"
	"github.com/coffer-secrets/coffer/internal/sys/operator"
	"github.com/coffer-secrets/coffer/internal/sys/policies"
	"github.com/coffer-secrets/coffer/internal/sys/rotate"
	"github.com/coffer-secrets/coffer/internal/sys/snapshots"
	"github.com/coffer-secrets/coffer/internal/sys/wrapping"
	"github.com/coffer-secrets/coffer/internal/token"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// ErrInvalidToken is beside [logical.ErrPermissionDenied] in the error of
// a request whose client token is missing, unknown, expired or revoked
// (not one the ACL refuses): the Vault API answers both 403 alike; a
// foreign API whose clients tell them apart (the Azure API's 401 with a
// bearer challenge) asks errors.Is(err, ErrInvalidToken).
var ErrInvalidToken = errors.New("invalid token")

// ErrSealed is returned for any request that needs the barrier while the
// server is sealed. Its message is what clients see: Vault's exact words,
// because Vault's and OpenBao's command lines and client libraries match
// on "Vault is sealed" to tell a sealed server from other failures.
var ErrSealed error = sealedError{}

type sealedError struct{}

func (sealedError) Error() string { return "Vault is sealed" }

// Options configures a [Core].
type Options struct {
	// Physical is the storage under the barrier.
	Physical storage.Storage
	// StorageType names the physical storage for seal-status, e.g. "bolt".
	StorageType string
	// Engines maps a secrets engine type to its factory. "cubbyhole" must
	// be among them: core mounts it at cubbyhole/.
	Engines map[string]logical.Factory
	// AuthMethods maps an auth method type to its factory.
	AuthMethods map[string]logical.Factory
	// DatabasePlugins names the database plugins the database engine
	// knows, for the plugin catalog.
	DatabasePlugins []string
	// Lockout is the server-wide user lockout by auth method type, with
	// "all" for the types it does not name (the configuration's
	// user_lockout blocks). An auth mount's own user_lockout_config
	// overrides it field by field; zero fields mean the defaults.
	Lockout map[string]LockoutConfig
	// Logger receives lifecycle and error logs; never secrets.
	Logger *slog.Logger
	// Clock tells the time; nil means the system clock.
	Clock logical.Clock
	// DefaultLeaseTTL and MaxLeaseTTL are the server-wide TTL settings.
	DefaultLeaseTTL time.Duration
	MaxLeaseTTL     time.Duration
	// Version is reported by seal-status and health.
	Version string
	// ClusterName is reported by seal-status and health.
	ClusterName string
	// PeriodicInterval is how often backends' periodic work runs; default
	// one minute.
	PeriodicInterval time.Duration
	// Observer, when set, is told about logins and failed revocations
	// (for metrics).
	Observer Observer
	// AuditDevices are declared in the configuration file.
	AuditDevices []AuditDeviceConfig
	// AuditAllowedDirs are where API-enabled audit files may be written.
	AuditAllowedDirs []string
	// AuditAnyDir lets the API enable audit files anywhere (dev mode).
	AuditAnyDir bool
	// HA, when set, makes the core one node of a cluster sharing Physical
	// (see package ha); nil means a single server.
	HA *ha.Options
	// MinRotationInterval is the shortest interval sys/rotate/config
	// accepts; zero means rotate.DefaultMinInterval (Vault's 24h). Dev
	// mode and tests lower it.
	MinRotationInterval time.Duration
	// RotationCheckInterval is how often the active node checks whether
	// the key term is due for automatic rotation; zero means
	// rotate.DefaultCheckInterval.
	RotationCheckInterval time.Duration
	// Seal is the configured auto seal; nil means Shamir key shares. The
	// core does not close it.
	Seal seal.Wrapper
	// DisabledSeal is the auto seal a migration starts from (a seal block
	// with disabled = "true"); nil when there is none, or it is Shamir.
	DisabledSeal seal.Wrapper
	// SanitizedConfig is the running configuration without secrets,
	// served as is (JSON) by sys/config/state/sanitized; the server sets
	// it from config.Config.Sanitized. Nil serves an empty object.
	SanitizedConfig any
	// InFlight, when set, lists the requests the HTTP layer is serving,
	// by request ID, for sys/in-flight-req.
	InFlight func() map[string]InFlightRequest
}

// InFlightRequest is one request the HTTP layer is serving, in the shape
// of sys/in-flight-req.
type InFlightRequest = operator.InFlightRequest

// Observer receives events for metrics. Its methods must be cheap and
// safe for concurrent use.
type Observer interface {
	Login(method string, ok bool)
	RevokeFailure(mount string)
	AuditFailure(device string)
	// BackgroundFailure is told when background work (a sweep, audit
	// checkpoints) stops while the core is unsealed.
	BackgroundFailure(task string)
}

// RotationObserver is an [Observer] that also counts failed rotations of
// KV secrets (the "rotation/failed" events backends send).
type RotationObserver interface {
	RotationFailure(mount string)
}

// Stats are counts for metrics.
type Stats struct {
	Tokens, Leases     int64
	BarrierEncryptions uint64
	// LockoutEntries is the size of the failed-login table (aliases with
	// recent failures or a lockout).
	LockoutEntries int
}

// Stats returns live counts; zero while sealed.
func (c *Core) Stats() Stats {
	if c.Sealed() {
		return Stats{}
	}
	st := Stats{Tokens: c.tokens.Count(), Leases: c.leases.Count(), LockoutEntries: c.lockouts.Size(c.now())}
	if info, err := c.barrier.KeyInfo(); err == nil {
		st.BarrierEncryptions = info.Encryptions
	}
	return st
}

// Core is one Coffer server's state and request pipeline.
type Core struct {
	opts     Options
	logger   *slog.Logger
	clock    logical.Clock
	barrier  *barrier.Barrier
	seal     *seal.Shamir
	tokens   *token.Store
	router   *router.Router
	sys      *framework.Backend
	tokenAPI *framework.Backend
	policies *policies.Store
	leases   *lease.Manager
	broker   *audit.Broker
	// audits is the table of enabled audit devices, opened at unseal.
	audits   *auditdev.Table
	wrapping *wrapping.Wrapper
	lockouts *lockout.Table
	// cer holds the rekey and root generation attempts.
	cer *ceremony.Ceremonies
	// rotation serves sys/rotate/config and rotates the key term when due.
	rotation *rotate.Rotator
	// operator serves the operator utility endpoints and records versions.
	operator *operator.Operator
	// snapshots saves and verifies snapshots (snapshot.go installs them).
	snapshots *snapshots.Snapshots
	// events is the event bus (events.go); webhooks delivers its events
	// to the configured endpoints.
	events   *events.Bus
	webhooks *webhook.Manager
	// incidents serves sys/incident/* and holds the guard the pipeline
	// checks (incident.go).
	incidents *sysincident.API
	// leaks is the live-secret fingerprint index (leaks.go); leaksAPI
	// serves sys/leaks/check from it.
	leaks    *leaks.Index
	leaksAPI *sysleaks.API

	// identity is built at unseal and dropped at seal; guarded by stateMu.
	identity *identity.Store
	// stopBackground ends the background work started at unseal; guarded
	// by stateMu.
	stopBackground func()

	// stateMu is held for writing while sealing or unsealing, and for
	// reading by every request that needs the unsealed state.
	stateMu sync.RWMutex
	sealed  atomic.Bool

	// mountMu serializes changes to the mount table.
	mountMu sync.Mutex
	mounts  *mount.Table // guarded by mountMu (and replaced only under it)

	// ha is this node of a cluster; nil for a single server.
	ha *ha.Node
	// sealCfg caches the seal configuration once initialized (it never
	// changes afterwards), so health checks need no storage round trip.
	sealCfg atomic.Pointer[seal.Config]

	// clusterID is read by seal-status without stateMu.
	clusterID atomic.Pointer[string]
	// auditErr is why a standby's audit devices could not be opened; nil
	// when they are open (see nodeaudit.go).
	auditErr atomic.Pointer[error]
}

// New builds a sealed core. It starts no goroutines and does no I/O.
func New(opts Options) (*Core, error) {
	if opts.Physical == nil {
		return nil, errors.New("core: no physical storage")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = logical.SystemClock{}
	}
	if opts.DefaultLeaseTTL <= 0 {
		opts.DefaultLeaseTTL = 768 * time.Hour
	}
	if opts.MaxLeaseTTL <= 0 {
		opts.MaxLeaseTTL = 768 * time.Hour
	}
	if opts.Version == "" {
		opts.Version = "0.1.0"
	}
	if opts.PeriodicInterval <= 0 {
		opts.PeriodicInterval = time.Minute
	}
	if opts.ClusterName == "" {
		opts.ClusterName = "coffer-cluster"
	}
	c := &Core{
		logger:   opts.Logger.With("component", "core"),
		clock:    opts.Clock,
		router:   router.New(),
		lockouts: lockout.New(lockout.MaxEntries),
	}
	if opts.HA != nil {
		// The node wraps the physical storage under the barrier, and
		// reaches the core through haHost (see ha.go).
		n, err := ha.New(*opts.HA, ha.Env{Host: haHost{c}, State: &c.stateMu, Logger: opts.Logger.With("component", "ha"), Clock: opts.Clock, Version: opts.Version, Events: c.deliverRemoteEvent})
		if err != nil {
			return nil, err
		}
		c.ha = n
		opts.Physical = n.Physical(opts.Physical)
	}
	b := barrier.New(opts.Physical)
	c.opts, c.barrier, c.seal, c.policies = opts, b, seal.NewShamir(opts.Physical), policies.NewStore(b)
	var onRevokeFail func(string)
	if opts.Observer != nil {
		onRevokeFail = opts.Observer.RevokeFailure
	}
	c.leases = lease.New(lease.Options{Storage: b, Revoker: leaseRevoker{c}, Logger: opts.Logger, Clock: opts.Clock, OnRevokeFailure: onRevokeFail})
	bo := audit.BrokerOptions{Clock: opts.Clock, Logger: opts.Logger.With("component", "audit")}
	if opts.Observer != nil {
		bo.OnFailure = func(path string, _ error) { opts.Observer.AuditFailure(path) }
	}
	c.broker = audit.NewBroker(bo)
	c.audits = auditdev.New(auditdev.Options{Storage: b, Broker: c.broker, Devices: opts.AuditDevices, AllowedDirs: opts.AuditAllowedDirs, AnyDir: opts.AuditAnyDir, Clock: opts.Clock, Logger: opts.Logger, NodeID: haNodeID(opts)})
	c.tokens = token.New(token.Options{Storage: b, Crypter: b, Logger: opts.Logger, OnRevoke: c.onTokenRevoke, OnRevokeBatch: c.onTokensRevoke})
	c.wrapping = wrapping.New(wrapping.Options{Tokens: c.tokens, Storage: b, Cubbyhole: c.cubbyholePrefix, MaxTTL: opts.MaxLeaseTTL, Clock: opts.Clock, Logger: c.logger})
	c.cer = ceremony.New(ceremony.Options{Core: ceremonyCore{c}, Logger: c.logger, NewID: uuid.New})
	c.rotation = rotate.New(rotate.Options{Keyring: b, Active: func() bool { return !c.Sealed() && !c.standby() }, Clock: opts.Clock, Logger: c.logger, MinInterval: opts.MinRotationInterval, CheckInterval: opts.RotationCheckInterval})
	c.operator = operator.New(operator.Options{Storage: b, Clock: opts.Clock, Logger: c.logger, Version: opts.Version, SanitizedConfig: opts.SanitizedConfig, InFlight: opts.InFlight})
	c.snapshots = snapshots.New(snapshotCore{c})
	c.webhooks = webhook.New(webhook.Options{Storage: b, Logger: c.logger.With("component", "webhook"), Now: c.now, Active: func() bool { return !c.Sealed() && !c.standby() }})
	c.events = events.New(events.Options{Now: c.now, Hooks: []func(*events.Event){c.webhooks.Enqueue, c.sendClusterEvent}})
	c.incidents = sysincident.New(sysincident.Options{Storage: router.NewView(b, incidentPrefix), Core: incidentCore{c}, Clock: opts.Clock, Logger: c.logger, NewID: uuid.New})
	c.leaks, c.leaksAPI = c.newLeaks()
	c.sys = c.newSysBackend()
	c.tokenAPI = c.newTokenBackend()
	c.sealed.Store(true)
	return c, nil
}

// Sealed reports whether the core is sealed.
func (c *Core) Sealed() bool { return c.sealed.Load() }

// now returns the current time in UTC.
func (c *Core) now() time.Time { return c.clock.Now().UTC() }
