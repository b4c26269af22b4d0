package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
)

// failingTxn is a storage whose transactions fail while fail is set.
type failingTxn struct {
	*logicaltest.Storage
	mu   sync.Mutex
	fail bool
}

func (s *failingTxn) Txn(ctx context.Context, ops []logical.TxnOp) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return s.Storage.Txn(ctx, ops)
}

func TestLastReadsFlush(t *testing.T) {
	ctx := t.Context()
	st := &failingTxn{Storage: logicaltest.NewStorage()}
	var l lastReads
	for i := range 600 { // more than two batches
		l.mark(fmt.Sprintf("k%03d", i), int64(i+1))
	}
	l.mark("k000", 5000)
	l.mark("k000", 10) // an older read does not move it back
	if err := st.Storage.Put(ctx, &logical.StorageEntry{Key: lastReadPrefix + "k002", Value: []byte("9000")}); err != nil {
		t.Fatal(err)
	}

	st.fail = true
	if err := l.flush(ctx, st, nil); err == nil {
		t.Fatal("flush on a failing storage succeeded")
	}
	l.mark("k001", 7000) // a read between the failure and the retry wins
	st.fail = false
	if err := l.flush(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want int64
	}{{"k000", 5000}, {"k001", 7000}, {"k002", 9000}, {"k599", 600}, {"nope", 0}} {
		got, err := l.load(ctx, st, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("%s: last read %d, %v; want %d", tc.key, got, err, tc.want)
		}
	}
	if n := len(st.Snapshot()); n != 600 {
		t.Errorf("%d entries stored, want 600", n)
	}
	// A stored later time is kept; an empty flush writes nothing.
	l.mark("k002", 8000)
	if err := l.flush(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := storedLastRead(ctx, st, "k002"); got != 9000 {
		t.Errorf("k002 stored %d after an older read was flushed, want 9000", got)
	}
	before := st.Counts()
	if err := l.flush(ctx, st, nil); err != nil || st.Counts() != before {
		t.Errorf("an empty flush wrote: %v", err)
	}
}

// TestLastReadsConcurrent marks from many goroutines while flushing; the
// stored time of each key is the latest marked, whatever the order of
// marks and flushes (run with -race).
func TestLastReadsConcurrent(t *testing.T) {
	ctx := t.Context()
	st := logicaltest.NewStorage()
	var l lastReads
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				l.mark("k"+strconv.Itoa(i%50), int64(g*1000+i))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			if err := l.flush(ctx, st, nil); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := l.flush(ctx, st, nil); err != nil {
		t.Fatal(err)
	}
	for k := range 50 {
		got, _ := l.load(ctx, st, "k"+strconv.Itoa(k))
		// Goroutine 7 marks key k last at 7000+450+k.
		if want := int64(7000 + 450 + k); got != want {
			t.Errorf("k%d: %d, want %d", k, got, want)
		}
	}
}
