package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// DefaultDeviceTimeout bounds how long a request waits for one device.
const DefaultDeviceTimeout = 5 * time.Second

// DefaultCheckpointInterval is how often [Broker.Run] checkpoints.
const DefaultCheckpointInterval = time.Minute

// ErrUnavailable is returned (wrapped, with each device's error) when
// devices are enabled but none recorded an entry: the request must fail.
var ErrUnavailable = errors.New("no audit device recorded the entry")

// BrokerOptions configure [NewBroker]; every field may be zero.
type BrokerOptions struct {
	// DeviceTimeout bounds each device's write; DefaultDeviceTimeout when
	// zero.
	DeviceTimeout time.Duration
	// CheckpointInterval is how often Run checkpoints every device;
	// DefaultCheckpointInterval when zero.
	CheckpointInterval time.Duration
	// Clock stamps entries that come without a time; the system clock
	// when nil.
	Clock logical.Clock
	// Logger receives device failures; nothing is logged when nil.
	Logger *slog.Logger
	// OnFailure, when set, is called once for every failed device write
	// (for metrics). It must be quick and safe for concurrent use.
	OnFailure func(path string, err error)
}

// Broker sends every entry to all enabled devices. It is safe for
// concurrent use.
type Broker struct {
	timeout   time.Duration
	interval  time.Duration
	clock     logical.Clock
	logger    *slog.Logger
	onFailure func(string, error)

	mu      sync.RWMutex
	devices []*Device // guarded by mu; sorted by path, replaced on change
}

// NewBroker returns a broker with no devices.
func NewBroker(o BrokerOptions) *Broker {
	b := &Broker{
		timeout:   o.DeviceTimeout,
		interval:  o.CheckpointInterval,
		clock:     o.Clock,
		logger:    o.Logger,
		onFailure: o.OnFailure,
	}
	if b.timeout <= 0 {
		b.timeout = DefaultDeviceTimeout
	}
	if b.interval <= 0 {
		b.interval = DefaultCheckpointInterval
	}
	if b.clock == nil {
		b.clock = logical.SystemClock{}
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	return b
}

// Register adds d. It fails when a device is already enabled at d's path.
func (b *Broker) Register(d *Device) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.findLocked(d.Path()); ok {
		return fmt.Errorf("audit device already enabled at %q", d.Path())
	}
	devs := append(slices.Clone(b.devices), d)
	slices.SortFunc(devs, func(x, y *Device) int { return cmp.Compare(x.Path(), y.Path()) })
	b.devices = devs
	return nil
}

func (b *Broker) findLocked(path string) (int, bool) {
	for i, d := range b.devices {
		if d.Path() == path {
			return i, true
		}
	}
	return -1, false
}

// Deregister removes the device at path and closes it (writing its final
// checkpoint). It reports whether there was one.
func (b *Broker) Deregister(ctx context.Context, path string) (bool, error) {
	b.mu.Lock()
	i, ok := b.findLocked(path)
	var d *Device
	if ok {
		d = b.devices[i]
		b.devices = slices.Delete(slices.Clone(b.devices), i, i+1)
	}
	b.mu.Unlock()
	if !ok {
		return false, nil
	}
	return true, d.Close(ctx)
}

// Device returns the device enabled at path.
func (b *Broker) Device(path string) (*Device, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	i, ok := b.findLocked(path)
	if !ok {
		return nil, false
	}
	return b.devices[i], true
}

// Devices returns the enabled devices, sorted by path. The slice is the
// caller's.
func (b *Broker) Devices() []*Device {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return slices.Clone(b.devices)
}

// LogRequest records a request. See [Broker.LogResponse].
func (b *Broker) LogRequest(ctx context.Context, e *Entry) error {
	return b.log(ctx, TypeRequest, e)
}

// LogResponse records a response (e.Response may be nil for an error).
// It writes to every device in parallel, each bounded by the device
// timeout, and succeeds when at least one device recorded the entry, or
// when no device is enabled. Otherwise it returns an error wrapping
// [ErrUnavailable] and each device's error; the caller must then fail the
// request. Client cancellation of ctx does not stop the write.
func (b *Broker) LogResponse(ctx context.Context, e *Entry) error {
	return b.log(ctx, TypeResponse, e)
}

// LogForward records that a standby sent a request to the active node
// (e.Forward names it) instead of serving it, as [Broker.LogResponse]
// records a response: a request that no device recorded must not be
// forwarded.
func (b *Broker) LogForward(ctx context.Context, e *Entry) error {
	return b.log(ctx, TypeForward, e)
}

func (b *Broker) log(ctx context.Context, typ string, e *Entry) error {
	b.mu.RLock()
	devs := b.devices
	b.mu.RUnlock()
	if len(devs) == 0 {
		return nil
	}
	if e.Time.IsZero() {
		stamped := *e
		stamped.Time = b.clock.Now()
		e = &stamped
	}
	// The trail must record a request even when its client has gone, so
	// the writes outlive ctx's cancellation; the device timeout bounds
	// them.
	ctx = context.WithoutCancel(ctx)
	if len(devs) == 1 {
		// The common case needs no fan-out.
		if err := b.write(ctx, devs[0], typ, e); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(err))
		}
		return nil
	}
	errs := make(chan error, len(devs))
	for _, d := range devs {
		go func() { errs <- b.write(ctx, d, typ, e) }()
	}
	var failed []error
	for range devs {
		if err := <-errs; err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) == len(devs) {
		return fmt.Errorf("%w: %w", ErrUnavailable, errors.Join(failed...))
	}
	return nil
}

// write logs e to d, returning by the device timeout even if d is stuck;
// a stuck write finishes (or fails) in the background.
func (b *Broker) write(ctx context.Context, d *Device, typ string, e *Entry) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Log(ctx, typ, e) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("audit device %q: %w", d.Path(), ctx.Err())
	}
	if err != nil {
		b.logger.Error("audit device write", "path", d.Path(), "err", err)
		if b.onFailure != nil {
			b.onFailure(d.Path(), err)
		}
	}
	return err
}

// Checkpoint makes every device with unchecked entries write a
// checkpoint, returning every failure joined.
func (b *Broker) Checkpoint(ctx context.Context) error {
	var errs []error
	for _, d := range b.Devices() {
		errs = append(errs, d.Checkpoint(ctx))
	}
	return errors.Join(errs...)
}

// Reload reopens every device (on SIGHUP), returning every failure
// joined.
func (b *Broker) Reload(ctx context.Context) error {
	var errs []error
	for _, d := range b.Devices() {
		errs = append(errs, d.Reload(ctx))
	}
	return errors.Join(errs...)
}

// Close removes and closes every device, returning every failure joined.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	devs := b.devices
	b.devices = nil
	b.mu.Unlock()
	var errs []error
	for _, d := range devs {
		errs = append(errs, d.Close(ctx))
	}
	return errors.Join(errs...)
}

// Run checkpoints every device each checkpoint interval until ctx ends,
// then returns ctx's error. Failures are logged.
func (b *Broker) Run(ctx context.Context) error {
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, b.timeout)
			if err := b.Checkpoint(cctx); err != nil {
				b.logger.Error("audit checkpoint", "err", err)
			}
			cancel()
		}
	}
}
