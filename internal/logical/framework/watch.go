package framework

import (
	"context"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// WatchedStorage is a [logical.Storage] that calls Changed with every key
// it wrote or deleted, once the write succeeded (for a transaction, each
// key of it once it committed). An engine wraps its storage in one to
// learn of every change in one place, whichever handler made it.
// Changed must not block; it may be called concurrently.
type WatchedStorage struct {
	logical.Storage
	Changed func(key string)
}

// Put stores e and reports its key.
func (w *WatchedStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if err := w.Storage.Put(ctx, e); err != nil {
		return err
	}
	w.Changed(e.Key)
	return nil
}

// Delete removes key and reports it.
func (w *WatchedStorage) Delete(ctx context.Context, key string) error {
	if err := w.Storage.Delete(ctx, key); err != nil {
		return err
	}
	w.Changed(key)
	return nil
}

// Txn applies ops and reports each of their keys.
func (w *WatchedStorage) Txn(ctx context.Context, ops []logical.TxnOp) error {
	if err := w.Storage.Txn(ctx, ops); err != nil {
		return err
	}
	for _, op := range ops {
		w.Changed(op.Key)
	}
	return nil
}
