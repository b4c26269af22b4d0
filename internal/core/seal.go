package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/identity"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/router"
	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/token"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// InitRequest asks for a new seal configuration.
type InitRequest struct {
	// SecretShares and SecretThreshold split the unseal key (Shamir seal);
	// an auto seal ignores them, as Vault does.
	SecretShares    int
	SecretThreshold int
	// RecoveryShares and RecoveryThreshold split the recovery key (auto
	// seals only; refused with Shamir).
	RecoveryShares    int
	RecoveryThreshold int
	// RootTokenID, when set, is used as the root token's ID (dev mode).
	RootTokenID string
}

// InitResult is what initialization hands to the operator, once.
type InitResult struct {
	// Shares are the unseal key shares (Shamir seal); whoever holds the
	// threshold of them can unseal.
	Shares [][]byte
	// RecoveryShares are the recovery key shares (auto seal).
	RecoveryShares [][]byte
	// RootToken is the initial root token.
	RootToken token.ID
}

// SealStatus describes the seal for sys/seal-status and sys/unseal.
type SealStatus struct {
	// Type is the seal type protecting the root key ("shamir", "static",
	// "transit", "pkcs11"); before initialization, the configured one.
	Type        string
	Initialized bool
	Sealed      bool
	// Threshold and Shares are the unseal key's, or with an auto seal the
	// recovery key's.
	Threshold int
	Shares    int
	Progress  int
	Nonce     string
	// RecoverySeal is true with an auto seal (operators hold recovery
	// keys).
	RecoverySeal bool
	// Migration is true while a seal migration waits for its keys.
	Migration   bool
	Version     string
	ClusterName string
	ClusterID   string
	StorageType string
}

// configuredSealType is the type of the configured seal.
func (c *Core) configuredSealType() string {
	if c.opts.Seal == nil {
		return seal.TypeShamir
	}
	return c.opts.Seal.Type()
}

// Initialized reports whether the server has been initialized.
func (c *Core) Initialized(ctx context.Context) (bool, error) {
	cfg, err := c.sealConfig(ctx)
	if err != nil {
		return false, err
	}
	return cfg != nil, nil
}

// sealConfig returns the seal configuration, nil before initialization.
// Once read it is cached; a rekey or a seal migration on this node
// replaces the cache (on other nodes of a cluster, the change notice for
// core/seal-config drops it).
func (c *Core) sealConfig(ctx context.Context) (*seal.Config, error) {
	if cfg := c.sealCfg.Load(); cfg != nil {
		return cfg, nil
	}
	cfg, err := c.seal.Config(ctx)
	if err != nil {
		return nil, fmt.Errorf("read seal config: %w", err)
	}
	if cfg != nil {
		c.sealCfg.Store(cfg)
	}
	return cfg, nil
}

// Initialize creates the root key, the keyring and the root token, and
// returns the unseal key shares (Shamir: the server stays sealed) or, with
// an auto seal, the recovery key shares (the server is then unsealed, as
// Vault does). It fails with [logical.ErrInvalidRequest] when already
// initialized or when the request is invalid.
func (c *Core) Initialize(ctx context.Context, req InitRequest) (*InitResult, error) {
	res, rootKey, err := c.initialize(ctx, req)
	if err != nil {
		return nil, err
	}
	if rootKey != nil {
		defer clear(rootKey)
		if err := c.unsealWithRootKey(ctx, rootKey); err != nil {
			return nil, fmt.Errorf("unseal after initialization: %w", err)
		}
	}
	return res, nil
}

// initialize does Initialize's work under stateMu; with an auto seal it
// also returns a copy of the root key for the caller to unseal with.
func (c *Core) initialize(ctx context.Context, req InitRequest) (*InitResult, []byte, error) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	cfg := seal.Config{SecretShares: req.SecretShares, SecretThreshold: req.SecretThreshold,
		RecoveryShares: req.RecoveryShares, RecoveryThreshold: req.RecoveryThreshold}
	if c.opts.Seal != nil {
		cfg = seal.Config{Type: c.opts.Seal.Type(), RecoveryShares: req.RecoveryShares, RecoveryThreshold: req.RecoveryThreshold}
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, logical.InvalidRequest("%s", strings.TrimPrefix(err.Error(), seal.ErrInvalidConfig.Error()+": "))
	}
	if ok, err := c.Initialized(ctx); err != nil {
		return nil, nil, err
	} else if ok {
		return nil, nil, logical.InvalidRequest("Vault is already initialized")
	}
	if c.ha != nil {
		// No node leads before initialization: the writes below are the
		// cluster's first, made by whichever node is asked.
		c.ha.BeginInit()
		defer c.ha.EndInit()
	}
	// A keyring without a seal config is the remnant of an initialization
	// that crashed half-way: nobody ever held shares for it, so it can go.
	if ok, err := c.barrier.Initialized(ctx); err != nil {
		return nil, nil, err
	} else if ok {
		if err := c.opts.Physical.Delete(ctx, "core/keyring"); err != nil {
			return nil, nil, fmt.Errorf("remove stale keyring: %w", err)
		}
	}
	rootKey, err := barrier.GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	defer clear(rootKey)
	if err := c.barrier.Initialize(ctx, rootKey); err != nil {
		return nil, nil, fmt.Errorf("initialize barrier: %w", err)
	}
	if err := c.barrier.Unseal(ctx, rootKey); err != nil {
		return nil, nil, fmt.Errorf("open barrier: %w", err)
	}
	defer c.barrier.Seal()
	if err := c.tokens.Load(ctx); err != nil {
		return nil, nil, err
	}
	defer c.tokens.Reset()
	root, _, err := c.tokens.Create(ctx, token.ID(req.RootTokenID), &token.Entry{
		Policies:    []string{"root"},
		DisplayName: "root",
		Path:        "auth/token/root",
	}, c.now())
	if err != nil {
		return nil, nil, fmt.Errorf("create root token: %w", err)
	}
	if err := c.initMountTable(ctx); err != nil {
		return nil, nil, err
	}
	// The seal config is written last: until it exists the server does not
	// count as initialized, so a crash before this point can be retried.
	if c.opts.Seal != nil {
		shares, err := c.seal.InitializeAuto(ctx, cfg, rootKey, c.opts.Seal)
		if err != nil {
			if errors.Is(err, seal.ErrUnreachable) {
				return nil, nil, &logical.Error{Kind: logical.ErrUpstream, Msg: "cannot reach the " + cfg.Type + " seal to wrap the root key", Err: err}
			}
			return nil, nil, fmt.Errorf("initialize seal: %w", err)
		}
		c.sealCfg.Store(&cfg)
		c.logger.Info("initialized", "seal", cfg.Type, "recovery_shares", cfg.RecoveryShares, "recovery_threshold", cfg.RecoveryThreshold)
		return &InitResult{RecoveryShares: shares, RootToken: root}, slices.Clone(rootKey), nil
	}
	shares, err := c.seal.Initialize(ctx, cfg, rootKey)
	if err != nil {
		return nil, nil, fmt.Errorf("initialize seal: %w", err)
	}
	c.logger.Info("initialized", "shares", cfg.SecretShares, "threshold", cfg.SecretThreshold)
	return &InitResult{Shares: shares, RootToken: root}, nil, nil
}

// Unseal submits one key share: an unseal key share with Shamir, a
// recovery key share with an auto seal (which unseals a server sealed by
// hand). When enough shares are in, the barrier is opened and mounts are
// loaded. A share already submitted in this round changes nothing and is
// answered with the unchanged status, as Vault does. A malformed share, or
// a wrong combination of shares, is refused with
// [logical.ErrInvalidRequest] and leaves the server sealed.
func (c *Core) Unseal(ctx context.Context, share []byte) (SealStatus, error) {
	return c.UnsealMigrate(ctx, share, false)
}

// UnsealMigrate is [Core.Unseal] with Vault's migrate flag. While a seal
// migration is pending (the stored seal type is not the configured one)
// every share must come with migrate set, and without one migrate is
// refused. The shares are the old seal's: unseal key shares from Shamir,
// recovery key shares from an auto seal. When the threshold is reached the
// root key is moved to the configured seal (see [seal.Shamir.MigrateToAuto]
// and its siblings: the operators' shares carry over) and the server is
// unsealed.
func (c *Core) UnsealMigrate(ctx context.Context, share []byte, migrate bool) (SealStatus, error) {
	if !c.Sealed() {
		return c.SealStatus(ctx)
	}
	cfg, err := c.sealConfig(ctx)
	if err != nil {
		return SealStatus{}, err
	}
	if cfg == nil {
		return SealStatus{}, logical.InvalidRequest("Vault is not initialized")
	}
	pending := cfg.SealType() != c.configuredSealType()
	switch {
	case pending && !migrate:
		return SealStatus{}, logical.InvalidRequest("migrate option not provided and seal migration is pending")
	case !pending && migrate:
		return SealStatus{}, logical.InvalidRequest("migrate option provided but seal migration is not in progress")
	}
	var rootKey []byte
	if pending {
		rootKey, err = c.migrateShare(ctx, cfg, share)
	} else if cfg.Auto() {
		rootKey, err = c.recoveryShare(ctx, share)
	} else {
		rootKey, _, err = c.seal.Submit(ctx, share)
	}
	if err != nil {
		return SealStatus{}, shareError(err)
	}
	if rootKey != nil {
		defer clear(rootKey)
		if err := c.unsealWithRootKey(ctx, rootKey); err != nil {
			return SealStatus{}, err
		}
	}
	return c.SealStatus(ctx)
}

// shareError turns a seal error of a share submission into the client's.
func shareError(err error) error {
	switch {
	case errors.Is(err, seal.ErrBadKey):
		return logical.InvalidRequest("unseal failed: the key shares do not open the barrier; progress was reset")
	case errors.Is(err, seal.ErrInvalidShare) || errors.Is(err, seal.ErrDuplicateShare):
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid key share: " + err.Error()}
	case errors.Is(err, seal.ErrUnreachable):
		return &logical.Error{Kind: logical.ErrUpstream, Msg: "cannot reach the seal's key source; try again", Err: err}
	case errors.Is(err, seal.ErrUnwrap):
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "the seal cannot unwrap the stored root key", Err: err}
	}
	return err
}

// recoveryShare submits a recovery key share to a server whose auto seal
// is the configured one; at the threshold it returns the root key the
// seal unwraps.
func (c *Core) recoveryShare(ctx context.Context, share []byte) ([]byte, error) {
	key, _, err := c.seal.SubmitRecovery(ctx, share)
	if err != nil || key == nil {
		return nil, err
	}
	clear(key)
	return c.seal.RootKey(ctx, c.opts.Seal)
}

// migrateShare submits a share of the stored (old) seal; at the threshold
// it moves the root key to the configured seal and returns it.
func (c *Core) migrateShare(ctx context.Context, cfg *seal.Config, share []byte) ([]byte, error) {
	from, to := cfg.SealType(), c.configuredSealType()
	if !cfg.Auto() {
		unsealKey, rootKey, _, err := c.seal.SubmitUnsealKey(ctx, share)
		if err != nil || rootKey == nil {
			return nil, err
		}
		defer clear(unsealKey)
		if err := c.seal.MigrateToAuto(ctx, rootKey, unsealKey, c.opts.Seal); err != nil {
			clear(rootKey)
			return nil, err
		}
		return rootKey, c.migrated(ctx, from, to)
	}
	old := c.opts.DisabledSeal
	if old == nil || old.Type() != from {
		return nil, logical.InvalidRequest("seal migration from %s needs the seal %q block with disabled = \"true\" in the configuration", from, from)
	}
	recoveryKey, _, err := c.seal.SubmitRecovery(ctx, share)
	if err != nil || recoveryKey == nil {
		return nil, err
	}
	defer clear(recoveryKey)
	rootKey, err := c.seal.RootKey(ctx, old)
	if err != nil {
		return nil, err
	}
	if c.opts.Seal == nil {
		err = c.seal.MigrateToShamir(ctx, rootKey, recoveryKey)
	} else {
		err = c.seal.MigrateAuto(ctx, rootKey, c.opts.Seal)
	}
	if err != nil {
		clear(rootKey)
		return nil, err
	}
	return rootKey, c.migrated(ctx, from, to)
}

// migrated refreshes the cached seal configuration after a migration.
func (c *Core) migrated(ctx context.Context, from, to string) error {
	c.sealCfg.Store(nil)
	if _, err := c.sealConfig(ctx); err != nil {
		return err
	}
	c.logger.Info("seal migrated", "from", from, "to", to)
	return nil
}

// ResetUnseal forgets the key shares submitted so far.
func (c *Core) ResetUnseal() { c.seal.Reset() }

// unsealWithRootKey opens the barrier and brings up the unsealed state: a
// single server's whole state, or a cluster node's standby state (it then
// competes for leadership in the background).
func (c *Core) unsealWithRootKey(ctx context.Context, rootKey []byte) error {
	if c.ha != nil {
		if err := c.unsealStandby(ctx, rootKey); err != nil {
			return err
		}
		c.ha.Start()
		return nil
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if !c.Sealed() {
		return nil
	}
	if err := c.barrier.Unseal(ctx, rootKey); err != nil {
		if errors.Is(err, barrier.ErrBadKey) {
			return logical.InvalidRequest("unseal failed: the key shares do not open the barrier")
		}
		return fmt.Errorf("open barrier: %w", err)
	}
	if err := c.postUnseal(ctx); err != nil {
		c.preSeal(ctx)
		c.barrier.Seal()
		return err
	}
	c.sealed.Store(false)
	c.logger.Info("unsealed")
	return nil
}

// unsealStandby opens the barrier of a cluster node and loads its standby
// state. A standby state that fails to load (the database is briefly
// away) leaves the node unsealed but forwarding everything until a reload
// works.
func (c *Core) unsealStandby(ctx context.Context, rootKey []byte) error {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if !c.Sealed() {
		return nil
	}
	if err := c.barrier.Unseal(ctx, rootKey); err != nil {
		if errors.Is(err, barrier.ErrBadKey) {
			return logical.InvalidRequest("unseal failed: the key shares do not open the barrier")
		}
		return fmt.Errorf("open barrier: %w", err)
	}
	c.ha.LoadStandbyLocked(ctx)
	c.sealed.Store(false)
	c.logger.Info("unsealed as a standby", "node_id", c.opts.HA.NodeID)
	return nil
}

// postUnseal loads everything that lives behind the barrier and starts
// the background work.
func (c *Core) postUnseal(ctx context.Context) error {
	if err := c.tokens.Load(ctx); err != nil {
		return err
	}
	// Accessor index entries written before accessors were hashed move to
	// the hashed layout; lookups read both, so a failure here only delays
	// the move to the next unseal.
	if n, err := c.tokens.MigrateAccessors(ctx); err != nil {
		c.logger.Error("move token accessor entries to the hashed layout", "moved", n, "err", err)
	} else if n > 0 {
		c.logger.Info("moved token accessor entries to the hashed layout", "moved", n)
	}
	if err := c.loadClusterID(ctx); err != nil {
		return err
	}
	if err := c.operator.RecordVersion(ctx); err != nil {
		return err
	}
	if err := c.policies.Load(ctx); err != nil {
		return err
	}
	if err := c.leases.Load(ctx); err != nil {
		return err
	}
	if err := c.loadIdentity(ctx); err != nil {
		return err
	}
	if err := c.loadMounts(ctx); err != nil {
		return err
	}
	if err := c.audits.Load(ctx); err != nil {
		return err
	}
	if err := c.webhooks.Load(ctx); err != nil {
		return err
	}
	if err := c.incidents.Load(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for _, t := range []task{
			{"token sweep", func(ctx context.Context) error { return c.tokens.Run(ctx, c.clock) }},
			{"periodic functions", func(ctx context.Context) error { c.runPeriodic(ctx); return nil }},
			{"key auto-rotation", c.rotation.Run},
			{"lease sweep", c.leases.Run},
			{"audit checkpoints", c.broker.Run},
			{"event webhooks", c.webhooks.Run},
		} {
			wg.Go(func() { runTask(bg, c.logger, c.opts.Observer, t) })
		}
		wg.Wait()
	}()
	c.stopBackground = func() { cancel(); <-done }
	return nil
}

// loadIdentity builds the identity store from storage (it only reads).
func (c *Core) loadIdentity(ctx context.Context) error {
	id, err := identity.New(ctx, identity.Options{
		Storage: router.NewView(c.barrier, "sys/identity/"),
		Logger:  c.opts.Logger, // the store scopes its logger itself
		Clock:   c.clock,
		Mounts:  c.mountByAccessor,
	})
	if err != nil {
		return fmt.Errorf("load identity store: %w", err)
	}
	c.identity = id
	return nil
}

// preSeal ends the event streams, stops the background work and tears
// down the unsealed state.
func (c *Core) preSeal(ctx context.Context) {
	c.events.Close() // every stream ends: nothing is readable while sealed
	c.unloadState(ctx)
}

// unloadState stops the background work and tears down the unsealed
// state; event streams stay (an HA role change keeps them: a standby gets
// the active node's events).
func (c *Core) unloadState(ctx context.Context) {
	if c.stopBackground != nil {
		c.stopBackground()
		c.stopBackground = nil
	}
	c.leaks.Reset() // first: its goroutine reads the mounts torn down below
	c.webhooks.Reset()
	c.audits.Unload(ctx)
	c.setAuditFailure(nil)
	c.unloadMounts(ctx)
	c.tokens.Reset()
	c.leases.Reset()
	c.policies.Reset()
	c.lockouts.Reset()
	c.cer.Reset()
	c.incidents.Reset()
	c.identity = nil
}

// Seal closes the barrier. Requests in flight finish first.
func (c *Core) Seal(ctx context.Context) error {
	if c.ha != nil {
		// The active node steps down (saving what it must) before the
		// barrier closes; the election must end before the lock is taken.
		c.ha.Stop()
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.Sealed() {
		return nil
	}
	c.sealed.Store(true)
	c.preSeal(ctx)
	if c.ha != nil {
		c.ha.Reset()
	}
	c.barrier.Seal()
	c.seal.Reset()
	c.logger.Info("sealed")
	return nil
}

// SealStatus reports the seal state.
func (c *Core) SealStatus(ctx context.Context) (SealStatus, error) {
	cfg, err := c.sealConfig(ctx)
	if err != nil {
		return SealStatus{}, err
	}
	st := SealStatus{
		Type:         c.configuredSealType(),
		RecoverySeal: c.opts.Seal != nil,
		Sealed:       c.Sealed(),
		Version:      c.opts.Version,
		ClusterName:  c.opts.ClusterName,
		StorageType:  c.opts.StorageType,
	}
	if cfg == nil {
		return st, nil
	}
	st.Initialized = true
	st.Type = cfg.SealType()
	st.RecoverySeal = cfg.Auto()
	st.Migration = st.Sealed && cfg.SealType() != c.configuredSealType()
	st.Shares, st.Threshold = cfg.Shares()
	if st.Sealed {
		p := c.seal.Progress()
		st.Progress = p.Progress
		st.Nonce = p.Nonce
	} else {
		st.ClusterID = c.ClusterID()
	}
	return st, nil
}

// loadClusterID reads or creates the cluster ID.
func (c *Core) loadClusterID(ctx context.Context) error {
	const key = "core/cluster-id"
	e, err := c.barrier.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read cluster id: %w", err)
	}
	if e != nil {
		id := string(e.Value)
		c.clusterID.Store(&id)
		return nil
	}
	id := uuid.New()
	if err := c.barrier.Put(ctx, storageEntry(key, []byte(id))); err != nil {
		return fmt.Errorf("write cluster id: %w", err)
	}
	c.clusterID.Store(&id)
	return nil
}

// readClusterID reads the cluster ID without creating it (a standby);
// it stays empty until the active node has written it.
func (c *Core) readClusterID(ctx context.Context) error {
	e, err := c.barrier.Get(ctx, "core/cluster-id")
	if err != nil {
		return fmt.Errorf("read cluster id: %w", err)
	}
	if e != nil {
		id := string(e.Value)
		c.clusterID.Store(&id)
	}
	return nil
}

// ClusterID returns the cluster ID, "" before it is known.
func (c *Core) ClusterID() string {
	if id := c.clusterID.Load(); id != nil {
		return *id
	}
	return ""
}

// runPeriodic calls every mounted backend's Periodic work each
// PeriodicInterval until ctx ends.
func (c *Core) runPeriodic(ctx context.Context) {
	t := time.NewTicker(c.opts.PeriodicInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range c.router.Routes() {
			p, ok := r.Backend.(logical.Periodic)
			if !ok {
				continue
			}
			if err := p.Periodic(ctx); err != nil && ctx.Err() == nil {
				c.logger.Error("periodic work of a mount failed", "mount", r.Path, "type", r.Type, "err", err)
			}
		}
	}
}

// AutoSeal reports whether the core is configured with an auto seal.
func (c *Core) AutoSeal() bool { return c.opts.Seal != nil }
