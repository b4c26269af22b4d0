package kv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Storage of the secret lifecycle (expiry and the recovery window). Both
// prefixes are apart from "meta/", so LIST metadata/ never shows them and
// a deleted secret's metadata is out of every read path.
const (
	// expiryPrefix indexes the secrets that have an expiry time not yet
	// announced as passed: "life/expiry/<day>/<path>" holds an
	// [expiryIndex], where day is the expiry's Unix day, zero-padded. The
	// periodic sweep lists the days and reads only the secrets of the
	// days that are due, never every secret.
	expiryPrefix = "life/expiry/"
	// trashPrefix holds deleted secrets still in their recovery window:
	// "life/trash/<path>" is a [trashEntry]; their versions stay at
	// "ver/<path>/<n>".
	trashPrefix = "life/trash/"
)

// defaultExpiryNotice is how long before its expiry a secret is announced
// as expiring ("secret/expiring") when the mount sets no expiry_notice.
const defaultExpiryNotice = 7 * 24 * time.Hour

// maxRecoveryWindowDays bounds recovery_window_days.
const maxRecoveryWindowDays = 365

// Bits of keyLife.ExpiryNotified: which events were sent for ExpireAt.
const (
	notifiedExpiring = 1 << iota
	notifiedExpired
)

// keyLife is the lifecycle part of a key's stored metadata.
type keyLife struct {
	// ExpireAt is when the secret stops being readable, Unix nanoseconds
	// (0: never).
	ExpireAt int64 `json:"expire_at,omitempty"`
	// ExpiryNotified records the events sent for this ExpireAt, so that
	// each is sent once; a new ExpireAt clears it.
	ExpiryNotified int `json:"expiry_notified,omitempty"`
	// RecoveryWindowDays overrides the mount's recovery window (nil: use
	// the mount's).
	RecoveryWindowDays *int `json:"recovery_window_days,omitempty"`
}

// expired reports whether the secret may no longer be read at now.
func (l *keyLife) expired(now int64) bool { return l.ExpireAt != 0 && l.ExpireAt <= now }

// expireTime is ExpireAt as a time in UTC, zero for never: what a secret
// walker reports as [logical.SecretInfo.ExpireTime] for the hygiene
// report (a secret is expired when it is not after now).
func (l *keyLife) expireTime() time.Time {
	if l.ExpireAt == 0 {
		return time.Time{}
	}
	return time.Unix(0, l.ExpireAt).UTC()
}

// mountLife is the lifecycle part of the mount's configuration.
type mountLife struct {
	RecoveryWindowDays int           `json:"recovery_window_days,omitempty"`
	ExpiryNotice       time.Duration `json:"expiry_notice_ns,omitempty"`
}

// expiryNotice is the configured notice, else the default.
func (c *mountLife) expiryNotice() time.Duration {
	if c.ExpiryNotice > 0 {
		return c.ExpiryNotice
	}
	return defaultExpiryNotice
}

// recoveryWindow is how long a deleted key stays recoverable: its own
// setting, else the mount's.
func recoveryWindow(c *mountConfig, m *keyMeta) time.Duration {
	days := c.RecoveryWindowDays
	if m.RecoveryWindowDays != nil {
		days = *m.RecoveryWindowDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// mountLifeInput is the lifecycle part of a config write.
type mountLifeInput struct {
	RecoveryWindowDays *framework.Int      `json:"recovery_window_days"`
	ExpiryNotice       *framework.Duration `json:"expiry_notice"`
}

// configInput is the body of a config write; only the fields present
// change.
type configInput struct {
	settingsInput
	mountLifeInput
	rotationConfigInput
}

func (in *mountLifeInput) checkMountLife() error {
	if in.RecoveryWindowDays != nil && (*in.RecoveryWindowDays < 0 || *in.RecoveryWindowDays > maxRecoveryWindowDays) {
		return logical.InvalidRequest("invalid value for \"recovery_window_days\": want a whole number of days from 0 (destroy at once) to %d", maxRecoveryWindowDays)
	}
	return nil
}

func (in *mountLifeInput) applyMountLife(c *mountConfig) {
	if in.RecoveryWindowDays != nil {
		c.RecoveryWindowDays = int(*in.RecoveryWindowDays)
	}
	if in.ExpiryNotice != nil {
		c.ExpiryNotice = durationOf(*in.ExpiryNotice)
	}
}

// mountLifeResponse is the lifecycle part of a config read.
type mountLifeResponse struct {
	RecoveryWindowDays int                `json:"recovery_window_days"`
	ExpiryNotice       framework.Duration `json:"expiry_notice"`
}

func newMountLifeResponse(c *mountConfig) mountLifeResponse {
	return mountLifeResponse{
		RecoveryWindowDays: c.RecoveryWindowDays,
		ExpiryNotice:       framework.Duration(c.expiryNotice()),
	}
}

// lifeResponse is the lifecycle part of a metadata read; both fields are
// left out when unset, so a key without them reads as in Vault.
type lifeResponse struct {
	ExpireAt           string `json:"expire_at,omitempty"`
	RecoveryWindowDays *int   `json:"recovery_window_days,omitempty"`
}

func newLifeResponse(m *keyMeta) lifeResponse {
	r := lifeResponse{RecoveryWindowDays: m.RecoveryWindowDays}
	if t := m.expireTime(); !t.IsZero() {
		r.ExpireAt = t.Format(time.RFC3339Nano)
	}
	return r
}

// keyLifeInput is the lifecycle part of a metadata write or patch.
// expire_at ("" clears it) and ttl (0 clears it) both set the expiry time;
// a request may give one of them. recovery_window_days -1 returns the key
// to the mount's window.
type keyLifeInput struct {
	ExpireAt           *string             `json:"expire_at"`
	TTL                *framework.Duration `json:"ttl"`
	RecoveryWindowDays *framework.Int      `json:"recovery_window_days"`
}

// lifeChange is a checked keyLifeInput, ready to apply.
type lifeChange struct {
	setExpiry bool
	expireAt  int64
	setWindow bool
	window    *int
}

// checkLife validates in against now and returns the change it asks for.
func (in *keyLifeInput) checkLife(now int64) (lifeChange, error) {
	var c lifeChange
	if in.ExpireAt != nil && in.TTL != nil {
		return c, logical.InvalidRequest("give either \"expire_at\" or \"ttl\", not both")
	}
	switch {
	case in.ExpireAt != nil:
		at, err := parseExpireAt(*in.ExpireAt, now)
		if err != nil {
			return c, err
		}
		c.setExpiry, c.expireAt = true, at
	case in.TTL != nil:
		ttl := int64(*in.TTL)
		c.setExpiry = true
		if ttl > 0 {
			if ttl > math.MaxInt64-now {
				return c, logical.InvalidRequest("invalid value for \"ttl\": too long; want a duration that ends before the year 2262")
			}
			c.expireAt = now + ttl
		}
	}
	if in.RecoveryWindowDays != nil {
		d := int(*in.RecoveryWindowDays)
		if d < -1 || d > maxRecoveryWindowDays {
			return c, logical.InvalidRequest("invalid value for \"recovery_window_days\": want a whole number of days from 0 (destroy at once) to %d, or -1 to use the mount's", maxRecoveryWindowDays)
		}
		c.setWindow = true
		if d >= 0 {
			c.window = &d
		}
	}
	return c, nil
}

// parseExpireAt parses expire_at: an RFC 3339 time after now, or "" for
// no expiry. It returns Unix nanoseconds (0 for none). Errors quote the
// input, which is a time, never a secret.
func parseExpireAt(s string, now int64) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, logical.InvalidRequest("invalid value for \"expire_at\": %q is not an RFC 3339 time such as \"2030-01-02T15:04:05Z\"", s)
	}
	if t.Year() < 1678 || t.Year() > 2261 {
		return 0, logical.InvalidRequest("invalid value for \"expire_at\": %q is out of range; want a time between now and the year 2262", s)
	}
	at := t.UnixNano()
	if at <= now {
		return 0, logical.InvalidRequest("invalid value for \"expire_at\": %q is not in the future", s)
	}
	return at, nil
}

// apply sets c on meta, the key p's metadata, and returns the storage
// operations that keep the expiry index in step, to commit with meta.
func (c lifeChange) apply(p string, meta *keyMeta) ([]logical.TxnOp, error) {
	if c.setWindow {
		meta.RecoveryWindowDays = c.window
	}
	if !c.setExpiry || c.expireAt == meta.ExpireAt {
		return nil, nil
	}
	old := meta.ExpireAt
	meta.ExpireAt = c.expireAt
	meta.ExpiryNotified = 0
	return expiryIndexOps(p, old, meta)
}

// expiryIndex is the value of an expiry index entry.
type expiryIndex struct {
	ExpireAt int64 `json:"expire_at"`
}

// expiryDay is the index bucket of an expiry time.
func expiryDay(at int64) int64 { return at / int64(24*time.Hour) }

// expiryKey is where the index entry of p expiring at at lives.
func expiryKey(p string, at int64) string {
	return expiryPrefix + fmt.Sprintf("%08d", expiryDay(at)) + "/" + p
}

// expiryIndexOps are the operations that make p's index entry match meta,
// whose expiry time was old (0: none) before this change: present while
// meta has an expiry not yet announced as passed.
func expiryIndexOps(p string, old int64, meta *keyMeta) ([]logical.TxnOp, error) {
	var ops []logical.TxnOp
	keep := meta.ExpireAt != 0 && meta.ExpiryNotified&notifiedExpired == 0
	if old != 0 && (!keep || expiryDay(old) != expiryDay(meta.ExpireAt)) {
		ops = append(ops, logical.TxnOp{Key: expiryKey(p, old), Delete: true})
	}
	if keep {
		op, err := putOp(expiryKey(p, meta.ExpireAt), expiryIndex{ExpireAt: meta.ExpireAt})
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// dropExpiryOps are the operations that remove meta's index entry, for a
// key that goes away.
func dropExpiryOps(p string, meta *keyMeta) []logical.TxnOp {
	if meta.ExpireAt == 0 {
		return nil
	}
	return []logical.TxnOp{{Key: expiryKey(p, meta.ExpireAt), Delete: true}}
}

// expiredError is the answer to a read of an expired secret: 404 with a
// message that says why, and never a value.
func expiredError(meta *keyMeta) error {
	return logical.NotFound("the secret expired at %s and its data can no longer be read; "+
		"write a later \"expire_at\" or \"ttl\" to its metadata to make it readable again", formatTime(meta.ExpireAt))
}

// expiredWriteError refuses a new version of an expired secret.
func expiredWriteError(meta *keyMeta) error {
	return logical.InvalidRequest("the secret expired at %s; write a later \"expire_at\" or \"ttl\" (or \"ttl\": 0 for none) "+
		"to its metadata before writing a new version", formatTime(meta.ExpireAt))
}

// sweepExpiry sends the expiry events that are due: "secret/expiring"
// once a secret is within the mount's expiry notice, and "secret/expired"
// once it has expired. Each is sent once per expiry time; the index entry
// goes when the expiry has been announced.
func (b *backendV2) sweepExpiry(ctx context.Context, cfg *mountConfig) error {
	notice := int64(cfg.expiryNotice())
	now := b.now()
	lastDay := int64(math.MaxInt64)
	if notice < math.MaxInt64-now {
		lastDay = expiryDay(now + notice)
	}
	days, err := b.storage.List(ctx, expiryPrefix)
	if err != nil {
		return err
	}
	var errs []error // one secret's failure does not hold up the others
	for _, d := range days {
		day, err := strconv.ParseInt(strings.TrimSuffix(d, "/"), 10, 64)
		if err != nil || !strings.HasSuffix(d, "/") || day > lastDay {
			continue // not due: the day's secrets are not read
		}
		err = walkKeys(ctx, b.storage, expiryPrefix+d, func(p string) error {
			var idx expiryIndex
			key := expiryPrefix + d + p
			ok, err := framework.GetJSON(ctx, b.storage, key, &idx)
			if err != nil || !ok {
				return err
			}
			if now := b.now(); idx.ExpireAt > now && idx.ExpireAt-now > notice {
				return nil // not due yet: no metadata read
			}
			if err := b.announceExpiry(ctx, p, key, notice); err != nil {
				errs = append(errs, fmt.Errorf("announce the expiry of %s: %w", p, err))
			}
			return ctx.Err()
		})
		if err != nil {
			errs = append(errs, err)
			break
		}
	}
	return errors.Join(errs...)
}

// announceExpiry sends the expiry events due for p, whose index entry is
// key, and records them.
func (b *backendV2) announceExpiry(ctx context.Context, p, key string, notice int64) error {
	defer b.lock(p)()
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return err
	}
	if meta == nil || meta.ExpireAt == 0 || expiryKey(p, meta.ExpireAt) != key {
		return b.storage.Txn(ctx, []logical.TxnOp{{Key: key, Delete: true}}) // stale entry
	}
	now := b.now()
	var events []string
	if meta.ExpiryNotified&notifiedExpiring == 0 && meta.ExpireAt-now <= notice {
		meta.ExpiryNotified |= notifiedExpiring
		if !meta.expired(now) {
			events = append(events, eventExpiring)
		}
	}
	if meta.ExpiryNotified&notifiedExpired == 0 && meta.expired(now) {
		meta.ExpiryNotified |= notifiedExpired
		events = append(events, eventExpired)
	}
	if len(events) == 0 {
		return nil
	}
	ops, err := expiryIndexOps(p, meta.ExpireAt, meta)
	if err != nil {
		return err
	}
	if err := b.saveMetaLocked(ctx, p, meta, ops); err != nil {
		return err
	}
	for _, e := range events {
		b.send(ctx, e, "data/"+p, p, map[string]string{
			"current_version": itoa(meta.Current),
			"expire_time":     formatTime(meta.ExpireAt),
		})
	}
	return nil
}

// walkKeys calls fn with every key under prefix (relative to it), depth
// first. It lists one folder at a time, so it never holds every key.
func walkKeys(ctx context.Context, s logical.Storage, prefix string, fn func(rel string) error) error {
	var walk func(rel string) error
	walk = func(rel string) error {
		keys, err := s.List(ctx, prefix+rel)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return err
			}
			if strings.HasSuffix(k, "/") {
				err = walk(rel + k)
			} else {
				err = fn(rel + k)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return walk("")
}

// checkWritableLocked refuses a new version of p, whose metadata is meta
// (nil for none), while p is expired or a deleted key at p is
// recoverable. The caller holds p's lock.
func (b *backendV2) checkWritableLocked(ctx context.Context, p string, meta *keyMeta) error {
	if meta == nil {
		return b.checkNotTrashedLocked(ctx, p)
	}
	if meta.expired(b.now()) {
		return expiredWriteError(meta)
	}
	return nil
}
