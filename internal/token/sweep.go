package token

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sweep revokes every token that has expired by now, using the expiry
// index, and returns how many it revoked. Tokens are also refused at
// lookup the moment they expire; the sweep removes them from storage and
// revokes what they hold.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	buckets, err := s.st.List(ctx, expiryPrefix)
	if err != nil {
		return 0, fmt.Errorf("list token expiry index: %w", err)
	}
	n := 0
	var errs []error
	for _, b := range buckets {
		sec, err := strconv.ParseInt(strings.TrimSuffix(b, "/"), 10, 64)
		if err != nil {
			continue
		}
		if sec > now.Unix() {
			break // the index is sorted: the rest expire later
		}
		hashes, err := s.st.List(ctx, expiryPrefix+b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, h := range hashes {
			e, err := s.load(ctx, h)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if e == nil {
				// A stale index entry: drop it.
				s.st.Delete(ctx, expiryPrefix+b+h)
				continue
			}
			if !e.Expired(now) {
				continue
			}
			if err := s.Revoke(ctx, h); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Tidy removes index entries that point at tokens that no longer exist,
// revokes tokens whose parent is gone, and sweeps expired tokens.
func (s *Store) Tidy(ctx context.Context, now time.Time) error {
	var errs []error
	refs, err := s.accessorRefs(ctx)
	if err != nil {
		return err
	}
	for _, r := range refs {
		if e, err := s.load(ctx, r.Hash); err == nil && e == nil {
			errs = append(errs, s.st.Delete(ctx, r.key))
		}
	}
	parents, err := s.st.List(ctx, parentPrefix)
	if err != nil {
		return err
	}
	for _, p := range parents {
		p = strings.TrimSuffix(p, "/")
		pe, err := s.load(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		children, err := s.Children(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, c := range children {
			ce, err := s.load(ctx, c)
			switch {
			case err != nil:
				errs = append(errs, err)
			case ce == nil:
				errs = append(errs, s.st.Delete(ctx, parentPrefix+p+"/"+c))
			case pe == nil:
				// The parent is gone but the child survived (its revocation
				// was interrupted): finish the job.
				errs = append(errs, s.Revoke(ctx, c))
			}
		}
		if pe == nil {
			errs = append(errs, s.st.Delete(ctx, parentPrefix+p))
		}
	}
	if _, err := s.Sweep(ctx, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Run sweeps expired tokens every SweepInterval until ctx ends. It sweeps
// once at the start, so tokens that expired while the server was down go
// at unseal.
func (s *Store) Run(ctx context.Context, clock interface{ Now() time.Time }) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx, clock.Now()); err != nil && ctx.Err() == nil {
			s.logger.Error("sweep expired tokens", "revoked", n, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
