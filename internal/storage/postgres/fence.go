package postgres

import "errors"

// ErrFenced is returned by Put, Delete and Txn on a Storage whose [Fence]
// no longer holds the current leadership epoch: another node has been
// elected since, and the write changed nothing.
var ErrFenced = errors.New("write fenced: this node is no longer the leader")

// Fence is the leadership epoch a node's writes are bound to; take it from
// [Leadership.Fence].
type Fence struct {
	// Epoch is the epoch that must still be current for a write to apply.
	Epoch int64
}

// SetFence binds every later write (Put, Delete, Txn) to f: each runs in a
// transaction that first checks, under a share lock on the epoch row, that
// the epoch is still f.Epoch, and fails with [ErrFenced] otherwise. So a
// node that lost leadership without noticing can never write. A nil f
// removes the fence. SetFence is safe to call concurrently with writes; a
// write in flight uses the fence it started with.
func (s *Storage) SetFence(f *Fence) {
	if f != nil {
		f = &Fence{Epoch: f.Epoch} // the caller may reuse its value
	}
	s.fence.Store(f)
}
