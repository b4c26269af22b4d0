// Package snapshots serves sys/storage/snapshot (GET saves, POST
// restores) and sys/storage/snapshot-force (POST restores a snapshot
// taken with other keys), in the shape of Vault's
// sys/storage/raft/snapshot endpoints. The HTTP layer streams the bodies
// and core runs the pipeline's checks (seal, active node, token, ACL with
// sudo, audit) around these calls.
//
// A snapshot copies the physical storage as stored (see package
// snapshot): values stay barrier ciphertext, and the keyring and the
// seal's entries come with it.
//
// Restoring follows Vault's raft restore. The file is first read in full
// into a temporary file and verified (framing, count, SHA-256), and,
// unless forced, its keyring must open with the server's root key; a
// refusal changes nothing. Then [Core.Install] replaces the storage and
// reloads the server (see its contract).
//
// The package reaches the server only through [Core]; it imports no core
// package. A [Snapshots] is safe for concurrent use.
package snapshots

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/coffer-secrets/coffer/internal/barrier"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/snapshot"
	"github.com/coffer-secrets/coffer/internal/storage"
)

// Path and ForcePath are the API paths of snapshots.
const (
	Path      = "sys/storage/snapshot"
	ForcePath = "sys/storage/snapshot-force"
)

// Core is what snapshots need from the server.
type Core interface {
	// Header describes the server for a new snapshot (time, storage type,
	// cluster, active key term). It fails with the server's sealed or
	// standby error when it cannot serve a snapshot.
	Header() (snapshot.Header, error)
	// Physical is the physical storage, as stored, without wrappers that
	// a snapshot must bypass.
	Physical() storage.Storage
	// CheckKeyring reports whether keyring, a stored keyring, opens with
	// the root key the server holds: nil when it does, an error wrapping
	// [barrier.ErrBadKey] when it does not.
	CheckKeyring(keyring []byte) error
	// Install replaces the whole storage with entries, in one transaction,
	// and reloads the server from it; force seals the server instead (the
	// snapshot's unseal keys open it). A failed replacement changes
	// nothing and keeps the server as it was.
	Install(ctx context.Context, rs storage.Restorer, entries iter.Seq2[storage.Entry, error], hdr snapshot.Header, force bool) error
}

// Snapshots saves and restores snapshots of one server.
type Snapshots struct {
	core Core
}

// New returns the snapshots of the server c.
func New(c Core) *Snapshots { return &Snapshots{core: c} }

// Write writes a snapshot of the whole storage to w and returns its
// header. It checks no token (the caller does). An error after writing
// started leaves w holding an incomplete snapshot, which readers refuse.
func (s *Snapshots) Write(ctx context.Context, w io.Writer) (snapshot.Header, error) {
	hdr, err := s.core.Header()
	if err != nil {
		return hdr, err
	}
	// The copy reads physical storage only: it needs no lock, and a seal
	// meanwhile does not disturb it.
	sn, ok := storage.As[storage.Snapshotter](s.core.Physical())
	if !ok {
		return hdr, logical.Unsupported(logical.ReadOperation, Path)
	}
	err = sn.Snapshot(ctx, func(v storage.View) error {
		var err error
		hdr, err = snapshot.Write(ctx, w, hdr, v)
		return err
	})
	if err != nil {
		return hdr, fmt.Errorf("write snapshot: %w", err)
	}
	return hdr, nil
}

// Restore reads and verifies the whole snapshot from body and installs
// it. A damaged file, or one taken with other keys without force, is
// refused with [logical.ErrInvalidRequest] and changes nothing.
func (s *Snapshots) Restore(ctx context.Context, body io.Reader, force bool) error {
	rs, ok := storage.As[storage.Restorer](s.core.Physical())
	if !ok {
		return logical.Unsupported(logical.UpdateOperation, Path)
	}
	// The keyring and the seal's entries are inspected before applying.
	sf, err := snapshot.Spool(body, "", barrier.KeyringPath, barrier.SealConfigPath, barrier.RootKeyPath)
	if err != nil {
		if errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, snapshot.ErrTruncated) || errors.Is(err, snapshot.ErrVersion) {
			return logical.InvalidRequest("%s; nothing was restored", err.Error())
		}
		return fmt.Errorf("read snapshot: %w", err)
	}
	defer sf.Close()
	keyring, ok := sf.Value(barrier.KeyringPath)
	_, hasSeal := sf.Value(barrier.SealConfigPath)
	_, hasRoot := sf.Value(barrier.RootKeyPath)
	if !ok || !hasSeal || !hasRoot {
		return logical.InvalidRequest("the snapshot holds no initialized server (its keyring or seal entries are missing); nothing was restored")
	}
	if !force {
		if err := s.core.CheckKeyring(keyring); errors.Is(err, barrier.ErrBadKey) {
			return logical.InvalidRequest("the snapshot was taken with different keys: its keyring does not open with this server's root key; nothing was restored (to install it anyway, use -force, or POST it to %s, then unseal with the snapshot's unseal keys)", ForcePath)
		} else if err != nil {
			return err
		}
	}
	entries := func(yield func(storage.Entry, error) bool) {
		for r, err := range sf.Records() {
			if !yield(storage.Entry{Key: r.Key, Value: r.Value}, err) || err != nil {
				return
			}
		}
	}
	return s.core.Install(ctx, rs, entries, sf.Header(), force)
}
