package kv

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
	"github.com/coffer-secrets/coffer/internal/rotation"
)

// Scheduled rotation of KV version 2 secrets (see docs/rotation.md).
//
// A secret's rotation policy and state live at "rot/<path>". A rotation
// runs in two phases, each one storage transaction under the path's lock:
//
//  1. prepare: the new values are generated and written as the next
//     version, recorded as pending in the key's metadata and in the
//     rotation state; reads of data/<path> keep answering the current
//     version;
//  2. the rotator (if any) is called, without the lock, with the new
//     values;
//  3. commit: the pending version becomes current and the previous one is
//     soft-deleted grace_period later (a grace period of 0 leaves it as
//     any older version); or, when the rotator failed, the failure is
//     recorded and the rotation is retried with backoff, with the same
//     pending values.
//
// A pending version found later (after a restart or a failover) is always
// completed, never abandoned: the rotator is called again with the same
// values, which rotators must accept (setting the same password again is
// harmless). A pending version removed meanwhile (destroyed, trimmed), or
// older than the current one, is abandoned and the next rotation
// generates new values.
//
// While a version is pending, writes and patches of data/<path> are
// refused (errRotationPending): a version written after the pending one
// would stay current while the rotator had put the pending values in
// place (a database password), and the secret and its user would
// disagree. A rotator that keeps failing keeps the secret read-only; its
// failures are in the rotation state, and deleting the policy drops the
// pending version and lets writes in again.
//
// Deleted (recoverable) and expired secrets are not rotated: the rotator
// would change a value that no read answers. Their schedule
// waits and rotates once the secret is recovered or its expiry extended.

// rotPrefix starts the storage key of a secret's rotation entry.
const rotPrefix = "rot/"

func rotKey(p string) string { return rotPrefix + p }

// Event types sent about rotations.
const (
	eventRotationSucceeded = "rotation/succeeded"
	eventRotationFailed    = "rotation/failed"
)

// errTrashed marks a rotation of a deleted (recoverable) secret: not a
// failure to record, the schedule just waits.
var errTrashed = errors.New("secret is deleted")

// errRotationPending marks a write refused while a rotation is pending.
var errRotationPending = errors.New("rotation pending")

// checkNoPendingLocked refuses a new version of p while a rotation of it
// is pending (see the package comment above). The caller holds p's lock.
func checkNoPendingLocked(meta *keyMeta) error {
	if meta == nil || meta.Pending == 0 {
		return nil
	}
	return &logical.Error{Kind: logical.ErrConflict, Err: errRotationPending, Msg: "a rotation of this secret is in progress (version " +
		strconv.Itoa(meta.Pending) + " is pending); retry shortly, or see its rotation state at rotation/<path> (deleting the policy ends it)"}
}

// rotationTimeout bounds one rotation (generation, rotator, commit) when
// no request bounds it.
const rotationTimeout = 5 * time.Minute

// Retry waits after a failed rotation: doubling from the first to the
// last.
const (
	retryMin = time.Second
	retryMax = 10 * time.Minute
)

// rotationEnv is what rotation needs from the backend's environment.
type rotationEnv struct {
	system  logical.SystemView
	logger  *slog.Logger
	standby bool
}

// rotationEntry is the stored policy and state of one secret's rotation.
// Times are Unix nanoseconds, 0 for unset.
type rotationEntry struct {
	Policy *rotation.Policy `json:"policy"`
	// NextDue is when the next rotation is due.
	NextDue int64 `json:"next_due"`
	// Pending is the version written by a rotation not yet committed.
	Pending           int               `json:"pending,omitempty"`
	PendingPublicKeys map[string]string `json:"pending_public_keys,omitempty"`
	// Previous is the version that was current before the last rotation.
	Previous    int               `json:"previous,omitempty"`
	PublicKeys  map[string]string `json:"public_keys,omitempty"`
	LastRotated int64             `json:"last_rotated,omitempty"`
	Failures    int               `json:"failures,omitempty"`
	LastError   string            `json:"last_error,omitempty"`
	LastFailure int64             `json:"last_failure,omitempty"`
}

func loadRotation(ctx context.Context, s logical.Storage, p string) (*rotationEntry, error) {
	e := new(rotationEntry)
	ok, err := framework.GetJSON(ctx, s, rotKey(p), e)
	if !ok || err != nil {
		return nil, err
	}
	if e.Policy == nil {
		return nil, errors.New("rotation entry without a policy")
	}
	return e, nil
}

func (b *backendV2) rotationPaths() []*framework.Path {
	return []*framework.Path{
		{
			Pattern: `rotation(?:/(?P<path>.*))?`,
			Operations: map[logical.Operation]framework.Handler{
				logical.ReadOperation:   b.readRotation,
				logical.ListOperation:   b.listRotation,
				logical.UpdateOperation: framework.Typed(b.writeRotation),
				logical.DeleteOperation: b.deleteRotation,
			},
			ExistenceCheck: func(ctx context.Context, _ *logical.Request, m *framework.Match) (bool, error) {
				p := m.Get("path")
				if checkPath(p) != nil {
					return false, nil
				}
				e, err := loadRotation(ctx, b.storage, p)
				return e != nil, err
			},
			Synopsis: "Read, write, list and delete the rotation policies of secrets.",
		},
		{
			Pattern: `rotate/(?P<path>.*)`,
			Operations: map[logical.Operation]framework.Handler{
				logical.UpdateOperation: framework.Typed(b.rotateNow),
			},
			Synopsis: "Rotate a secret now, by its rotation policy.",
		},
	}
}

// rotationSummary is a secret's rotation policy and state as answered.
// It never holds a secret value or a webhook key.
type rotationSummary struct {
	*rotation.PublicPolicy
	NextRotation    string            `json:"next_rotation"`
	LastRotation    string            `json:"last_rotation"`
	PendingVersion  int               `json:"pending_version"`
	PreviousVersion int               `json:"previous_version"`
	Failures        int               `json:"failures"`
	LastError       string            `json:"last_error"`
	LastFailureTime string            `json:"last_failure_time"`
	PublicKeys      map[string]string `json:"public_keys"`
}

func (e *rotationEntry) summary() *rotationSummary {
	pk := e.PublicKeys
	if pk == nil {
		pk = map[string]string{}
	}
	return &rotationSummary{
		PublicPolicy:    e.Policy.Public(),
		NextRotation:    formatTime(e.NextDue),
		LastRotation:    formatTime(e.LastRotated),
		PendingVersion:  e.Pending,
		PreviousVersion: e.Previous,
		Failures:        e.Failures,
		LastError:       e.LastError,
		LastFailureTime: formatTime(e.LastFailure),
		PublicKeys:      pk,
	}
}

// rotationSummary returns p's rotation summary for a metadata read, or
// nil when p has no policy.
func (b *backendV2) rotationSummary(ctx context.Context, p string) (*rotationSummary, error) {
	e, err := loadRotation(ctx, b.storage, p)
	if err != nil || e == nil {
		return nil, err
	}
	return e.summary(), nil
}

func (b *backendV2) readRotation(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	s, err := b.rotationSummary(ctx, p)
	if err != nil || s == nil {
		return nil, err
	}
	return &logical.Response{Data: s}, nil
}

func (b *backendV2) listRotation(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	prefix, err := listPrefix(m.Get("path"))
	if err != nil {
		return nil, err
	}
	keys, err := b.storage.List(ctx, rotPrefix+prefix)
	if err != nil {
		return nil, err
	}
	return framework.ListResponse(keys)
}

// writeRotation sets a secret's rotation policy. The secret need not
// exist yet: its first rotation then creates it. Writing a policy starts
// the schedule again from now, unless a rotation is pending (it is then
// completed at once).
func (b *backendV2) writeRotation(ctx context.Context, req *logical.Request, m *framework.Match, in *rotation.PolicyInput) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	pol, err := in.Policy()
	if err != nil {
		return nil, err
	}
	if r := pol.Rotator; r != nil && r.Type == rotation.RotatorWebhook && r.SendValues {
		// A hook that receives the values reads the secret: only someone
		// who may read it may send its values away.
		target := req.MountPoint + "data/" + p
		if req.Access == nil || !req.Access.Allowed(target, logical.ReadOperation) {
			return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "a webhook rotator with send_values needs read permission on " + target}
		}
	}
	if r := pol.Rotator; r != nil && r.Type == rotation.RotatorDatabase {
		// Setting a database user's password is a power over the
		// database mount: ask for what configuring the connection needs.
		target := r.Mount
		if target != "" && target[len(target)-1] != '/' {
			target += "/"
		}
		if req.Access == nil || !req.Access.Allowed(target+"config/"+r.Connection, logical.UpdateOperation) {
			return nil, &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "a database rotator needs update permission on " + target + "config/" + r.Connection}
		}
	}
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return nil, err
	}
	if err := checkWebhookHost(cfg, pol.Rotator); err != nil {
		return nil, err
	}
	defer b.lock(p)()
	e, err := loadRotation(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if e == nil {
		e = new(rotationEntry)
	}
	now := b.clock.Now()
	e.Policy = pol
	e.NextDue = pol.Next(p, now).UnixNano()
	if e.Pending != 0 {
		e.NextDue = now.UnixNano()
	}
	if err := framework.PutJSON(ctx, b.storage, rotKey(p), e); err != nil {
		return nil, err
	}
	b.sched.set(p, e.NextDue)
	return &logical.Response{Data: e.summary()}, nil
}

// deleteRotation removes a secret's policy. A pending version stays as a
// version that never became current.
func (b *backendV2) deleteRotation(ctx context.Context, _ *logical.Request, m *framework.Match) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	defer b.lock(p)()
	ops := []logical.TxnOp{{Key: rotKey(p), Delete: true}}
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return nil, err
	}
	if meta != nil && meta.Pending != 0 {
		meta.Pending = 0
		op, err := putOp(metaKey(p), meta)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	if err := b.storage.Txn(ctx, ops); err != nil {
		return nil, err
	}
	b.sched.remove(p)
	return nil, nil
}

// rotateNowInput is the body of secret/rotate/PATH: Coffer extensions,
// both optional (see rotateNow).
type rotateNowInput struct {
	Version        *framework.Int     `json:"version"`
	CustomMetadata map[string]*string `json:"custom_metadata"`
}

// rotateNowResponse is the answer of secret/rotate/PATH.
type rotateNowResponse struct {
	Version         int `json:"version"`
	PreviousVersion int `json:"previous_version"`
}

// rotateNow rotates a secret at once. The rotation outlives the request
// (a half-done rotation is worse than a late answer), bounded by
// rotationTimeout. A failed rotator is a 502 and leaves the new version
// pending, to be retried by the schedule.
//
// The body may carry Coffer extensions (stage.go): custom_metadata, a
// patch stored with the new pending version in the prepare transaction,
// and version, the number that version must get (required with
// custom_metadata, so the caller can name it there). They need patch or
// update on metadata/<path>, and are refused (a conflict, nothing
// changed) when a rotation is already pending or the number differs.
func (b *backendV2) rotateNow(ctx context.Context, req *logical.Request, m *framework.Match, in *rotateNowInput) (*logical.Response, error) {
	p := m.Get("path")
	if err := checkPath(p); err != nil {
		return nil, err
	}
	var opts *dataOptions
	if in.CustomMetadata != nil || in.Version != nil {
		opts = &dataOptions{Version: in.Version, CustomMetadata: in.CustomMetadata}
		if in.CustomMetadata != nil && in.Version == nil {
			return nil, logical.InvalidRequest("custom_metadata on rotate/ needs version, the number of the version it is stored with")
		}
		if err := opts.checkExtensions(req, p); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rotationTimeout)
	defer cancel()
	v, prev, err := b.rotate(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	return &logical.Response{Data: &rotateNowResponse{Version: v, PreviousVersion: prev}}, nil
}

// rotate runs one rotation of p to the end and returns the version that
// became current and the one before it. A pending version found older
// than the current one at commit is not a success: p is rotated again at
// once, from the current version. opts (nil for none) are rotate/'s
// extensions, for the first attempt only.
func (b *backendV2) rotate(ctx context.Context, p string, opts *dataOptions) (version, previous int, err error) {
	if !b.sched.begin(p) {
		return 0, 0, &logical.Error{Kind: logical.ErrConflict, Msg: "a rotation of this secret is already running"}
	}
	defer b.sched.end(p)
	for range 2 {
		version, previous, err = b.rotateOnce(ctx, p, opts)
		if !errors.Is(err, errStalePending) {
			break
		}
		opts = nil
	}
	return version, previous, err
}

// errStalePending marks a commit that found a version newer than the
// pending one.
var errStalePending = errors.New("a newer version was written during the rotation")

// rotateOnce is one rotation of p; the caller holds p's in-flight mark.
func (b *backendV2) rotateOnce(ctx context.Context, p string, opts *dataOptions) (version, previous int, err error) {
	ch, pol, err := b.prepareRotation(ctx, p, opts)
	if err != nil {
		if !errors.Is(err, logical.ErrNotFound) && !errors.Is(err, errTrashed) && !errors.Is(err, errRotateOptions) && !b.sched.closing.Load() {
			b.recordFailure(ctx, p, 0, err)
		}
		return 0, 0, err
	}
	if err := b.applyRotator(ctx, pol, ch); err != nil {
		if b.sched.closing.Load() {
			// Shutting down: the pending version is completed at the
			// next start.
			return 0, 0, err
		}
		b.recordFailure(ctx, p, ch.Version, err)
		// The rotator's own kind decides the status: a refusal of the
		// configuration (no such user) is a 400, anything else a 502.
		kind := logical.ErrUpstream
		if le, ok := errors.AsType[*logical.Error](err); ok && le.Kind != nil {
			kind = le.Kind
		}
		return 0, 0, &logical.Error{Kind: kind, Msg: "rotation failed; the current version stays current and the rotation will be retried: " + safeMessage(err), Err: err}
	}
	return b.commitRotation(ctx, p, ch.Version)
}

// applyRotator calls the policy's rotator, if any. A webhook's host is
// checked again: the mount's allow-list may have changed since the policy
// was written.
func (b *backendV2) applyRotator(ctx context.Context, pol *rotation.Policy, ch rotation.Change) error {
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return err
	}
	if err := checkWebhookHost(cfg, pol.Rotator); err != nil {
		return err
	}
	db, _ := b.rot.system.(logical.DatabasePasswordSetter)
	r, err := rotation.New(pol.Rotator, db)
	if err != nil || r == nil {
		return err
	}
	if w, ok := r.(*rotation.Webhook); ok {
		// The caller sees a generic reason; the server log the detail.
		w.Logger = b.rot.logger.With("path", ch.Path, "version", ch.Version)
		defer w.Close()
	}
	return r.Apply(ctx, ch)
}

// errRotateOptions marks a rotation refused for its rotate/ extensions:
// the caller's mistake, not a failure to record.
var errRotateOptions = errors.New("rotate options refused")

// prepareRotation is phase 1: it writes the pending version (or finds the
// one a rotation left) and returns the change for the rotator. opts (nil
// for none) patch custom_metadata in the same transaction; they are
// refused when a rotation is already pending.
func (b *backendV2) prepareRotation(ctx context.Context, p string, opts *dataOptions) (rotation.Change, *rotation.Policy, error) {
	defer b.lock(p)()
	e, err := loadRotation(ctx, b.storage, p)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	if e == nil {
		return rotation.Change{}, nil, logical.NotFound("no rotation policy for this secret")
	}
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	if meta == nil {
		// A deleted secret in its recovery window is not rotated (nor
		// brought back); one past its window is purged with its policy.
		if err := b.checkNotTrashedLocked(ctx, p); err != nil {
			return rotation.Change{}, nil, &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "the secret is deleted; recover it to rotate it", Err: errTrashed}
		}
		if e, err = loadRotation(ctx, b.storage, p); err != nil || e == nil {
			if err == nil {
				err = logical.NotFound("no rotation policy for this secret")
			}
			return rotation.Change{}, nil, err
		}
	}
	now := b.now()
	if meta != nil && meta.expired(now) {
		// Like a deleted secret: the rotator would set a value nobody
		// may read. The schedule waits for the expiry to be extended.
		return rotation.Change{}, nil, &logical.Error{Kind: logical.ErrInvalidRequest,
			Msg: "the secret expired at " + formatTime(meta.ExpireAt) + "; extend its expiry (metadata \"expire_at\" or \"ttl\") to rotate it", Err: errTrashed}
	}
	if opts != nil && e.Pending != 0 {
		return rotation.Change{}, nil, &logical.Error{Kind: logical.ErrConflict, Err: errRotateOptions,
			Msg: "a rotation of this secret is pending (version " + strconv.Itoa(e.Pending) + "): rotate without version and custom_metadata to complete it"}
	}
	if opts != nil {
		m := meta
		if m == nil {
			m = &keyMeta{}
		}
		if err := opts.checkVersion(m); err != nil {
			return rotation.Change{}, nil, &logical.Error{Kind: logical.ErrConflict, Err: errors.Join(errRotateOptions, err), Msg: err.Error()}
		}
	}
	if e.Pending != 0 && meta != nil {
		if ch, ok, err := b.resumeLocked(ctx, p, e, meta, now); err != nil || ok {
			return ch, e.Policy, err
		}
	}
	// Start from the current value, so that keys the policy does not
	// name (and "keep" keys) carry over.
	data := map[string]json.RawMessage{}
	if meta != nil {
		if v := meta.version(meta.Current); v != nil && !v.gone(now) {
			ent, err := b.storage.Get(ctx, verKey(p, v.N))
			if err != nil {
				return rotation.Change{}, nil, err
			}
			if ent != nil {
				if err := json.Unmarshal(ent.Value, &data); err != nil {
					return rotation.Change{}, nil, errors.New("current version is not a JSON object")
				}
			}
		}
	}
	ch := rotation.Change{Path: p, Values: map[string]string{}}
	pubs := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(e.Policy.Keys)) {
		g := e.Policy.Keys[name]
		if g.Generator == rotation.GenKeep {
			continue
		}
		v, err := rotation.Generate(ctx, g, b.rot.system.GeneratePassword)
		if err != nil {
			return rotation.Change{}, nil, err
		}
		enc, err := json.Marshal(v.Secret)
		if err != nil {
			return rotation.Change{}, nil, err
		}
		data[name] = enc
		ch.Values[name] = v.Secret
		if v.PublicKey != "" {
			pubs[name] = v.PublicKey
		}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	value, err := compactData(raw)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	cfg, err := loadConfig(ctx, b.storage)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	if meta == nil {
		meta = &keyMeta{Created: now}
	}
	if opts != nil {
		if err := patchCustomMetadata(meta, opts.CustomMetadata); err != nil {
			return rotation.Change{}, nil, &logical.Error{Kind: logical.ErrInvalidRequest, Err: errors.Join(errRotateOptions, err), Msg: err.Error()}
		}
	}
	v := versionMeta{N: meta.nextVersion(), Created: now}
	if d := effectiveDeleteAfter(cfg, meta); d > 0 {
		v.Deleted = math.MaxInt64
		if int64(d) < math.MaxInt64-now {
			v.Deleted = now + int64(d)
		}
	}
	meta.Versions = append(meta.Versions, v)
	meta.Pending = v.N
	meta.touch(now)
	ops := []logical.TxnOp{{Key: verKey(p, v.N), Value: value}}
	ops = append(ops, trimLocked(p, cfg, meta)...)
	e.Pending, e.PendingPublicKeys = v.N, pubs
	ch.Version, ch.PreviousVersion = v.N, meta.Current
	metaOp, err := putOp(metaKey(p), meta)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	rotOp, err := putOp(rotKey(p), e)
	if err != nil {
		return rotation.Change{}, nil, err
	}
	if err := b.storage.Txn(ctx, append(ops, metaOp, rotOp)); err != nil {
		return rotation.Change{}, nil, err
	}
	return ch, e.Policy, nil
}

// resumeLocked rebuilds the change of the pending version e.Pending. It
// reports false, having cleared the pending state in e and meta (in
// memory), when that version is gone or older than the current one (a
// version written after it, stored before writes were refused while a
// rotation is pending): completing it would change nothing in KV and put
// values that are not current where they are used.
func (b *backendV2) resumeLocked(ctx context.Context, p string, e *rotationEntry, meta *keyMeta, now int64) (rotation.Change, bool, error) {
	ch := rotation.Change{Path: p, Version: e.Pending, PreviousVersion: meta.Current, Values: map[string]string{}}
	if v := meta.version(e.Pending); v != nil && !v.gone(now) && e.Pending > meta.Current {
		ent, err := b.storage.Get(ctx, verKey(p, v.N))
		if err != nil {
			return ch, false, err
		}
		var data map[string]json.RawMessage
		if ent != nil && json.Unmarshal(ent.Value, &data) == nil {
			complete := true
			for name, g := range e.Policy.Keys {
				if g.Generator == rotation.GenKeep {
					continue
				}
				var s string
				if json.Unmarshal(data[name], &s) != nil {
					complete = false // the policy changed since
					break
				}
				ch.Values[name] = s
			}
			if complete {
				return ch, true, nil
			}
		}
	}
	b.rot.logger.Warn("abandoning a pending rotation whose version is gone, older than the current one or no longer matches the policy",
		"path", p, "version", e.Pending, "current", meta.Current)
	e.Pending, e.PendingPublicKeys = 0, nil
	meta.Pending = 0
	return ch, false, nil
}

// trimLocked drops the oldest versions beyond max_versions from meta,
// never the current one, the pending one or the newest (the one just
// written, which may be staged: not current), and returns the deletions
// of their data.
func trimLocked(p string, cfg *mountConfig, meta *keyMeta) []logical.TxnOp {
	extra := len(meta.Versions) - effectiveMaxVersions(cfg, meta)
	if extra <= 0 {
		return nil
	}
	var ops []logical.TxnOp
	kept := meta.Versions[:0:0]
	newest := meta.Versions[len(meta.Versions)-1].N
	for _, v := range meta.Versions {
		if extra > 0 && v.N != meta.Current && v.N != meta.Pending && v.N != newest {
			ops = append(ops, logical.TxnOp{Key: verKey(p, v.N), Delete: true})
			extra--
			continue
		}
		kept = append(kept, v)
	}
	if len(ops) > 0 {
		meta.Versions = kept
		meta.Oldest = kept[0].N
	}
	return ops
}

// commitRotation is phase 3 on success: version n becomes current.
func (b *backendV2) commitRotation(ctx context.Context, p string, n int) (version, previous int, err error) {
	unlock := b.lock(p)
	e, err := loadRotation(ctx, b.storage, p)
	if err != nil || e == nil {
		unlock()
		if err == nil {
			err = logical.NotFound("the rotation policy was deleted during the rotation")
		}
		return 0, 0, err
	}
	meta, err := loadMeta(ctx, b.storage, p)
	if err != nil {
		unlock()
		return 0, 0, err
	}
	if e.Pending != n || meta == nil || meta.version(n) == nil {
		unlock()
		return 0, 0, &logical.Error{Kind: logical.ErrConflict, Msg: "the pending version changed during the rotation; it is completed by whoever changed it"}
	}
	now := b.clock.Now()
	prev := meta.Current
	if n < meta.Current {
		// A version came after the pending one (only storage written
		// before writes were refused while pending): the rotator put
		// values in place that are not current. Not a success: drop the
		// pending version and rotate again at once, from the current one.
		meta.Pending, e.Pending, e.PendingPublicKeys = 0, 0, nil
		e.NextDue = now.UnixNano()
		err := b.putMetaAndRotationLocked(ctx, p, meta, e)
		unlock()
		if err != nil {
			return 0, 0, err
		}
		b.rot.logger.Warn("a version was written after the pending one; rotating again", "path", p, "pending", n, "current", prev)
		return 0, 0, &logical.Error{Kind: logical.ErrConflict, Msg: "a newer version was written during the rotation; rotate again", Err: errStalePending}
	}
	if n > meta.Current {
		meta.Current = n
		if g := e.Policy.GracePeriod; g > 0 && prev != 0 {
			if pv := meta.version(prev); pv != nil && !pv.Destroyed {
				end := now.Add(g).UnixNano()
				if pv.Deleted == 0 || pv.Deleted > end {
					pv.Deleted = end
				}
			}
		}
	}
	meta.Pending = 0
	meta.touch(now.UnixNano())
	e.Pending, e.Previous = 0, prev
	e.PublicKeys, e.PendingPublicKeys = e.PendingPublicKeys, nil
	e.LastRotated = now.UnixNano()
	e.Failures, e.LastError, e.LastFailure = 0, "", 0
	e.NextDue = e.Policy.Next(p, now).UnixNano()
	metaOp, err := putOp(metaKey(p), meta)
	if err == nil {
		var rotOp logical.TxnOp
		if rotOp, err = putOp(rotKey(p), e); err == nil {
			err = b.storage.Txn(ctx, []logical.TxnOp{metaOp, rotOp})
		}
	}
	unlock()
	if err != nil {
		return 0, 0, err
	}
	b.sched.set(p, e.NextDue)
	// Readers see a new current version, as after a write.
	b.send(ctx, eventDataWrite, "data/"+p, p, versionsMetadata(meta))
	b.send(ctx, eventRotationSucceeded, "data/"+p, p, map[string]string{
		"version": strconv.Itoa(meta.Current), "previous_version": strconv.Itoa(prev),
	})
	return meta.Current, prev, nil
}

// recordFailure is phase 3 on failure: the failure is stored, the retry
// scheduled with backoff and an event sent. The pending version stays.
func (b *backendV2) recordFailure(ctx context.Context, p string, n int, cause error) {
	msg := safeMessage(cause)
	// The rotation's own deadline may be what failed it: recording gets
	// its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	unlock := b.lock(p)
	e, err := loadRotation(ctx, b.storage, p)
	if err != nil || e == nil {
		unlock()
		return
	}
	now := b.clock.Now()
	e.Failures++
	e.LastError, e.LastFailure = msg, now.UnixNano()
	e.NextDue = now.Add(retryDelay(e.Failures)).UnixNano()
	err = framework.PutJSON(ctx, b.storage, rotKey(p), e)
	unlock()
	if err != nil {
		b.rot.logger.Error("record a failed rotation", "path", p, "err", err)
		return
	}
	b.sched.set(p, e.NextDue)
	b.rot.logger.Warn("rotation failed; it will be retried", "path", p, "version", n, "failures", e.Failures, "err", msg)
	b.send(ctx, eventRotationFailed, "data/"+p, p, map[string]string{
		"version": strconv.Itoa(n), "failures": strconv.Itoa(e.Failures), "error": msg,
	})
}

// putMetaAndRotationLocked stores p's metadata and rotation entry in one
// transaction. The caller holds p's lock.
func (b *backendV2) putMetaAndRotationLocked(ctx context.Context, p string, meta *keyMeta, e *rotationEntry) error {
	metaOp, err := putOp(metaKey(p), meta)
	if err != nil {
		return err
	}
	rotOp, err := putOp(rotKey(p), e)
	if err != nil {
		return err
	}
	return b.storage.Txn(ctx, []logical.TxnOp{metaOp, rotOp})
}

// retryDelay is the wait before retry number failures.
func retryDelay(failures int) time.Duration {
	d := retryMin
	for i := 1; i < failures && d < retryMax; i++ {
		d *= 2
	}
	return min(d, retryMax)
}

// safeMessage is what may be shown of a rotation error: the client-safe
// message of a [logical.Error] (rotators and the database engine never
// put a value there), else the error's text, which holds no value either
// (webhook and generator errors name what failed, not what was sent).
func safeMessage(err error) string {
	if le, ok := errors.AsType[*logical.Error](err); ok {
		return le.Msg
	}
	return err.Error()
}
