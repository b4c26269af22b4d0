package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/snapshot"
	"github.com/coffer-secrets/coffer/internal/storage"
	"github.com/coffer-secrets/coffer/internal/sys/snapshots"
)

// Snapshots: sys/storage/snapshot and sys/storage/snapshot-force are
// served by package snapshots (saving, verifying a restore); core runs the
// pipeline's checks around them (seal, active node, token, ACL with sudo,
// audit) and installs a verified snapshot.
//
// Installing holds the state lock as sealing does: the core stops its
// background work and unloads its state, replaces the whole storage in one
// transaction, and loads everything again from the restored data with the
// root key it holds, as an unseal would: the server stays unsealed. When
// the restore fails nothing changed, and the old state is loaded again. A
// forced restore seals the server instead: the operator unseals with the
// snapshot's unseal keys. In a cluster the active node restores and tells
// the standbys to reload everything; after a forced restore the other
// nodes must be sealed and unsealed with the snapshot's keys.

// SnapshotPath and SnapshotForcePath are the API paths of snapshots.
const (
	SnapshotPath      = snapshots.Path
	SnapshotForcePath = snapshots.ForcePath
)

// rawPhysical is the physical storage without the cluster's write
// wrapper, which snapshots bypass (a restore notifies the standbys
// itself); [storage.As] finds the optional interfaces through other
// wrappers.
func (c *Core) rawPhysical() storage.Storage {
	if p, ok := c.opts.Physical.(ha.Physical); ok {
		return p.Storage
	}
	return c.opts.Physical
}

// SaveSnapshot answers GET sys/storage/snapshot: it checks the request
// like any other (the token needs read and sudo on the path), audits it,
// and writes a snapshot of the whole storage to w. Errors before anything
// was written carry the usual kinds ([ErrSealed], [ha.ErrStandby],
// permission denied); an error after writing started leaves w holding an
// incomplete snapshot, which readers refuse.
func (c *Core) SaveSnapshot(ctx context.Context, req *Request, w io.Writer) error {
	req.Operation, req.Path = logical.ReadOperation, SnapshotPath
	rec, err := c.startRaw(ctx, req)
	if err != nil {
		return err
	}
	_, err = c.WriteSnapshot(ctx, w)
	return c.finishRaw(ctx, req, rec, err)
}

// WriteSnapshot writes a snapshot of the whole storage to w and returns
// its header. It checks no token (the server's scheduled snapshots use
// it); it fails with [ErrSealed] while sealed and [ha.ErrStandby] on a
// standby.
func (c *Core) WriteSnapshot(ctx context.Context, w io.Writer) (snapshot.Header, error) {
	return c.snapshots.Write(ctx, w)
}

// RestoreSnapshot answers POST sys/storage/snapshot (force false) and
// sys/storage/snapshot-force (force true): it checks and audits the
// request (update and sudo on the path), reads and verifies the whole
// snapshot from body, and installs it (see the comment at the top of this
// file). A damaged file, or one taken with other keys without force, is
// refused with [logical.ErrInvalidRequest] and changes nothing.
func (c *Core) RestoreSnapshot(ctx context.Context, req *Request, body io.Reader, force bool) error {
	req.Operation, req.Path = logical.UpdateOperation, SnapshotPath
	if force {
		req.Path = SnapshotForcePath
	}
	rec, err := c.startRaw(ctx, req)
	if err != nil {
		return err
	}
	err = c.snapshots.Restore(ctx, body, force)
	return c.finishRaw(ctx, req, rec, err)
}

// startRaw runs the pipeline's checks for a streamed sys request and
// writes its audit entry.
func (c *Core) startRaw(ctx context.Context, req *Request) (*auditRecord, error) {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return nil, ErrSealed
	}
	if c.standby() {
		return nil, ha.ErrStandby
	}
	rec := &auditRecord{start: c.now(), mountType: "system", mountPoint: "sys/"}
	cl, err := c.authorize(ctx, req, nil, "")
	rec.caller = cl
	if err == nil {
		err = c.auditRequest(ctx, req, rec)
	}
	if err != nil {
		// The refusal is audited as other requests' are.
		if aerr := c.auditRequest(ctx, req, rec); aerr != nil {
			return nil, aerr
		}
		if aerr := c.auditResponse(ctx, req, rec, nil, err); aerr != nil {
			return nil, aerr
		}
		return nil, err
	}
	return rec, nil
}

// finishRaw audits the outcome of a streamed request; a server sealed
// meanwhile (a forced restore) has no devices to write to.
func (c *Core) finishRaw(ctx context.Context, req *Request, rec *auditRecord, err error) error {
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return err
	}
	resp := &Response{MountType: "system"}
	if err != nil {
		resp = nil
	}
	if aerr := c.auditResponse(ctx, req, rec, resp, err); aerr != nil && err == nil {
		return aerr
	}
	return err
}

// snapshotCore is the [snapshots.Core] a core lends its snapshots.
type snapshotCore struct{ c *Core }

func (sc snapshotCore) Header() (snapshot.Header, error) {
	c := sc.c
	c.stateMu.RLock()
	defer c.stateMu.RUnlock()
	if c.Sealed() {
		return snapshot.Header{}, ErrSealed
	}
	if c.standby() {
		return snapshot.Header{}, ha.ErrStandby
	}
	hdr := snapshot.Header{Created: c.now().UTC(), StorageType: c.opts.StorageType, ClusterID: c.ClusterID()}
	if info, err := c.barrier.KeyInfo(); err == nil {
		hdr.Keyring = snapshot.KeyringInfo{ActiveTerm: info.Term, InstallTime: info.InstallTime.UTC()}
	}
	return hdr, nil
}

func (sc snapshotCore) Physical() storage.Storage { return sc.c.rawPhysical() }

func (sc snapshotCore) CheckKeyring(keyring []byte) error {
	_, err := sc.c.barrier.CheckKeyring(keyring)
	if errors.Is(err, barrier.ErrSealed) {
		return ErrSealed
	}
	return err
}

func (sc snapshotCore) Install(ctx context.Context, rs storage.Restorer, entries iter.Seq2[storage.Entry, error], hdr snapshot.Header, force bool) error {
	return sc.c.install(ctx, rs, entries, hdr, force)
}

// install replaces the storage and reloads the state, holding stateMu for
// writing. The work outlives the request: a client that goes away must
// not leave the core half reloaded.
func (c *Core) install(ctx context.Context, rs storage.Restorer, entries iter.Seq2[storage.Entry, error], hdr snapshot.Header, force bool) error {
	ctx = context.WithoutCancel(ctx)
	sealAfter := false
	defer func() {
		if sealAfter && c.ha != nil {
			// As Seal does: leave the cluster once the lock is released.
			c.ha.Stop()
			c.ha.Reset()
		}
	}()
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	if c.Sealed() {
		return ErrSealed
	}
	if c.standby() {
		return ha.ErrStandby
	}
	c.preSeal(ctx)
	if err := rs.Restore(ctx, entries); err != nil {
		// Nothing changed: bring the old state back.
		if lerr := c.reloadActiveLocked(ctx); lerr != nil {
			c.sealLocked(ctx, "reload after a failed restore", lerr)
			sealAfter = true
		}
		if errors.Is(err, storage.ErrInvalidKey) {
			return logical.InvalidRequest("the snapshot holds an invalid storage key; nothing was restored")
		}
		return fmt.Errorf("restore snapshot: %w", err)
	}
	c.sealCfg.Store(nil)
	c.notifyRestored(ctx)
	if force {
		c.sealLocked(ctx, "", nil)
		sealAfter = true
		c.logger.Info("snapshot restored (forced); sealed: unseal with the snapshot's keys", "keys", hdr.KeyCount, "snapshot_created", hdr.Created)
		return nil
	}
	if err := c.reloadActiveLocked(ctx); err != nil {
		c.sealLocked(ctx, "reload after a restore", err)
		sealAfter = true
		return fmt.Errorf("snapshot restored, but loading it failed; the server is sealed: %w", err)
	}
	c.logger.Info("snapshot restored", "keys", hdr.KeyCount, "snapshot_created", hdr.Created)
	return nil
}

// reloadActiveLocked loads the unsealed state again from storage with the
// root key the barrier holds, as an unseal (or a node becoming active)
// does. The caller holds stateMu for writing and has called preSeal.
func (c *Core) reloadActiveLocked(ctx context.Context) error {
	if err := c.barrier.Reload(ctx); err != nil {
		return fmt.Errorf("reload keyring: %w", err)
	}
	if err := c.postUnseal(ctx); err != nil {
		c.preSeal(ctx)
		return err
	}
	if c.ha != nil {
		if err := c.ha.LoadClusterTLS(ctx, true); err != nil {
			c.preSeal(ctx)
			return err
		}
	}
	return nil
}

// sealLocked seals after a restore: the state is already unloaded. why
// and err, when set, say what failed.
func (c *Core) sealLocked(ctx context.Context, why string, err error) {
	c.sealed.Store(true)
	c.preSeal(ctx)
	c.barrier.Seal()
	c.seal.Reset()
	if err != nil {
		c.logger.Error("sealed: "+why+" failed", "err", err)
	}
}

// notifyRestored tells the standbys that everything changed.
func (c *Core) notifyRestored(ctx context.Context) {
	if c.ha != nil {
		c.ha.NotifyChanged(ctx, []string{"*"})
	}
}
