package live

import (
	"context"
	"crypto/sha256"
)

// Batcher gathers digests of candidates with the places they were seen
// (of any type P) and checks them in batches. Each distinct digest is sent
// at most once while it fits in the memory bounds: a digest already found
// to be a live secret is answered from memory, one found not to be is
// skipped.
type Batcher[P any] struct {
	checker Checker
	report  func(p P, m Match)

	pending  map[Digest][]P
	order    []Digest
	live     map[Digest][]Match
	notLive  map[Digest]struct{}
	maxSeen  int
	maxPlace int
	sent     int
}

// NewBatcher returns a Batcher that sends through c and calls report for
// every place of every live secret (once per place and match).
func NewBatcher[P any](c Checker, report func(p P, m Match)) *Batcher[P] {
	return &Batcher[P]{
		checker:  c,
		report:   report,
		pending:  map[Digest][]P{},
		live:     map[Digest][]Match{},
		notLive:  map[Digest]struct{}{},
		maxSeen:  1 << 20,
		maxPlace: 100,
	}
}

// Add records that value was seen at p; it hashes value and does not keep
// it. A full batch is sent before Add returns.
func (b *Batcher[P]) Add(ctx context.Context, value []byte, p P) error {
	return b.AddDigest(ctx, sha256.Sum256(value), p)
}

// AddDigest is Add for a value already hashed.
func (b *Batcher[P]) AddDigest(ctx context.Context, d Digest, p P) error {
	if ms, ok := b.live[d]; ok {
		for _, m := range ms {
			b.report(p, m)
		}
		return nil
	}
	if _, ok := b.notLive[d]; ok {
		return nil
	}
	places, ok := b.pending[d]
	if !ok {
		b.order = append(b.order, d)
	}
	// Past maxPlace places the rest of a value's copies are dropped: one
	// value seen a thousand times is one finding to act on.
	if len(places) < b.maxPlace {
		b.pending[d] = append(places, p)
	}
	if len(b.order) >= MaxBatch {
		return b.Flush(ctx)
	}
	return nil
}

// Flush sends what is pending.
func (b *Batcher[P]) Flush(ctx context.Context) error {
	if len(b.order) == 0 {
		return nil
	}
	ms, err := b.checker.Check(ctx, b.order)
	if err != nil {
		return err
	}
	b.sent += len(b.order)
	byIndex := map[int][]Match{}
	for _, m := range ms {
		byIndex[m.Index] = append(byIndex[m.Index], m)
	}
	for i, d := range b.order {
		matches := byIndex[i]
		if len(matches) == 0 {
			if len(b.notLive) < b.maxSeen {
				b.notLive[d] = struct{}{}
			}
			continue
		}
		b.live[d] = matches
		for _, p := range b.pending[d] {
			for _, m := range matches {
				b.report(p, m)
			}
		}
	}
	clear(b.pending)
	b.order = b.order[:0]
	return nil
}

// Sent returns how many digests have been sent to the server.
func (b *Batcher[P]) Sent() int { return b.sent }
