package gcpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/core"
	"github.com/coffer-secrets/coffer/internal/ha"
	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/uuid"
)

// DefaultRotationInterval is how often a [Rotator] looks for secrets
// whose next_rotation_time has passed.
const DefaultRotationInterval = time.Minute

// RotationHost is what the rotation sweep needs of core; *core.Core is
// one. The sweep is background work of the active node, like a KV
// mount's own sweep: it calls the project mounts' backends directly (no
// token, no audit entry), reading metadata and patching only the
// gcp:rotation-next key of a due secret.
type RotationHost interface {
	HAStatus() ha.Status
	Mounts() []core.MountEntry
	MountedBackend(path string) (be logical.Backend, mountType string, ok bool)
	EventSender
}

// RotatorOptions configures a [Rotator].
type RotatorOptions struct {
	// Host is required.
	Host RotationHost
	// MountPrefix is as in [Options]; nil means DefaultMountPrefix.
	MountPrefix *string
	// Interval between sweeps; 0 means DefaultRotationInterval.
	Interval time.Duration
	Logger   *slog.Logger
	// Now tells the time; nil means time.Now.
	Now func() time.Time
}

// Rotator sends Google's SECRET_ROTATE for the secrets whose
// rotation.next_rotation_time has passed, as a gcp/secret-rotate event,
// and moves next_rotation_time on by rotation_period (past now), or
// clears it when the secret has no period. It runs on the active node
// only (Run skips its turn elsewhere); it is safe for concurrent use.
type Rotator struct {
	host     RotationHost
	prefix   string
	interval time.Duration
	logger   *slog.Logger
	now      func() time.Time
}

// NewRotator returns a rotator; it starts nothing.
func NewRotator(opts RotatorOptions) *Rotator {
	prefix := DefaultMountPrefix
	if opts.MountPrefix != nil {
		prefix = *opts.MountPrefix
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultRotationInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Rotator{host: opts.Host, prefix: prefix, interval: opts.Interval, logger: opts.Logger.With("component", "gcpapi-rotation"), now: opts.Now}
}

// Run sweeps every interval until ctx ends, then returns nil. A sealed
// node or a standby skips its turn; a failed sweep is logged and tried
// again at the next tick.
func (r *Rotator) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !r.host.HAStatus().Active {
			continue
		}
		// A seal or a step-down during the sweep fails it: not worth an
		// error then.
		if err := r.Sweep(ctx); err != nil && ctx.Err() == nil && r.host.HAStatus().Active {
			r.logger.Error("rotation sweep failed", "err", err)
		}
	}
}

// Sweep rotates every due secret of every project mount once. It reads
// the metadata of each secret of each project (KV keeps no index of the
// schedule), so a sweep costs one metadata read per secret.
func (r *Rotator) Sweep(ctx context.Context) error {
	var errs []error
	for _, m := range r.host.Mounts() {
		project, ok := strings.CutPrefix(m.Path, r.prefix)
		project = strings.TrimSuffix(project, "/")
		if !ok || m.Type != "kv" || !validProject(project) {
			continue
		}
		if err := r.sweepMount(ctx, m.Path, project); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepMount rotates the due secrets of one project.
func (r *Rotator) sweepMount(ctx context.Context, mount, project string) error {
	be, _, ok := r.host.MountedBackend(mount)
	if !ok {
		return nil // unmounted or sealed since the list
	}
	var l listData
	if err := r.call(ctx, be, mount, logical.ListOperation, "metadata/", nil, nil, &l); err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, k := range l.Keys {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !validSecretID(k) {
			continue
		}
		if err := r.rotate(ctx, be, mount, secretName{project: project, secret: k}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// rotate sends SECRET_ROTATE for secret n if it is due and moves its
// schedule on, in one metadata patch that applies only to the metadata
// read (a secret changed meanwhile waits for the next sweep).
func (r *Rotator) rotate(ctx context.Context, be logical.Backend, mount string, n secretName) error {
	var m kvMeta
	if err := r.call(ctx, be, mount, logical.ReadOperation, "metadata/"+n.secret, nil, nil, &m); err != nil {
		if isNotFound(err) {
			return nil
		}
		return err
	}
	next, err := time.Parse(time.RFC3339Nano, m.CustomMetadata[mkRotationNext])
	now := r.now()
	if err != nil || next.After(now) {
		return nil
	}
	var moved *string
	if secs, err := strconv.ParseInt(m.CustomMetadata[mkRotationPeriod], 10, 64); err == nil && secs > 0 {
		period := time.Duration(secs) * time.Second
		steps := now.Sub(next)/period + 1
		s := next.Add(steps * period).UTC().Format(time.RFC3339Nano)
		moved = &s
	}
	body := map[string]any{"custom_metadata": map[string]*string{mkRotationNext: moved}}
	err = r.call(ctx, be, mount, logical.PatchOperation, "metadata/"+n.secret, expect(m.UpdatedTime), body, nil)
	if errors.Is(err, logical.ErrConflict) || isNotFound(err) {
		return nil // changed or gone since the read: the next sweep decides
	}
	if err != nil {
		return err
	}
	if topics := m.CustomMetadata[mkTopics]; topics != "" {
		publish(ctx, r.host, r.prefix, n, topics, eventSecretRotate, 0)
	}
	return nil
}

// call sends one request to the mount's backend and decodes its data
// into out (when out is non-nil); a read that finds nothing is
// logical.ErrNotFound.
func (r *Rotator) call(ctx context.Context, be logical.Backend, mount string, op logical.Operation, path string, q url.Values, body, out any) error {
	req := &logical.Request{ID: uuid.New(), Operation: op, Path: path, MountPoint: mount, Query: q}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		req.Body = b
	}
	resp, err := be.HandleRequest(ctx, req)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if resp == nil || resp.Data == nil {
		return logical.NotFound("nothing at %s", mount+path)
	}
	b, err := json.Marshal(resp.Data)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
