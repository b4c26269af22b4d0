package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// DefaultCheckpointEvery is how many entries a device writes between
// checkpoints unless told otherwise.
const DefaultCheckpointEvery = 1000

// HMACKeySize is the size of a device's HMAC key in bytes.
const HMACKeySize = 32

// ErrClosed is returned by a device used after Close.
var ErrClosed = errors.New("audit device closed")

// Sink is where a device's lines go. Write gets one complete line, ending
// in a newline, and must write all of it or return an error; it must not
// keep the slice after it returns (the device reuses it). Reload
// reopens the destination (after log rotation); Close releases it. A
// device calls a sink's methods one at a time. Type names the device
// type, "file" or "socket" ("syslog" for a syslog witness).
type Sink interface {
	Type() string
	Write(ctx context.Context, line []byte) error
	Reload() error
	Close() error
}

// Repairer is implemented by sinks that can undo what a failed write left
// behind. Repair cuts the destination back to the end of its last complete
// line and returns that offset and the number of bytes it cut.
type Repairer interface {
	Repair() (offset, cut int64, err error)
}

// Tailer is implemented by sinks that can read back the last complete
// line they held when opened, so that a device continues its chain across
// restarts. LastLine returns nil when there is none.
type Tailer interface {
	LastLine() []byte
}

// Keys are a device's secrets; the integrator keeps them in the barrier.
// The HMAC key (HMACKeySize bytes) hides secrets in the log; the Ed25519
// key signs checkpoints, and its public half verifies them. A device keeps
// the slices it is given: the caller must not modify them afterwards.
type Keys struct {
	HMAC    []byte
	Signing ed25519.PrivateKey
}

// GenerateKeys returns new random device keys.
func GenerateKeys() (Keys, error) {
	k := Keys{HMAC: make([]byte, HMACKeySize)}
	if _, err := rand.Read(k.HMAC); err != nil {
		return Keys{}, fmt.Errorf("generate audit hmac key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Keys{}, fmt.Errorf("generate audit signing key: %w", err)
	}
	k.Signing = priv
	return k, nil
}

// ChainState is where a device's hash chain stands: its ID, the seq of the
// last line written and the hex SHA-256 of that line ("" before the
// first).
type ChainState struct {
	ChainID string
	Seq     uint64
	Head    string
}

// DeviceOptions configure [NewDevice]. Path, Sink and Keys are required.
type DeviceOptions struct {
	// Path is where the device is enabled, e.g. "file/".
	Path string
	Sink Sink
	Keys Keys
	// Witness, when set, receives a copy of every checkpoint line after
	// Sink has it (see [OpenWitness]). A failure to send one is logged
	// and does not fail the entry that triggered the checkpoint.
	Witness Sink
	// LogRaw writes secrets as they are instead of HMACing them.
	LogRaw bool
	// RawAccessor writes token accessors as they are (hmac_accessor=false).
	RawAccessor bool
	// CheckpointEvery is the number of entries between checkpoints;
	// DefaultCheckpointEvery when zero.
	CheckpointEvery int
	// Resume continues an earlier chain when the sink is not a [Tailer]
	// (a socket); the integrator saves [Device.State] on shutdown. A zero
	// ChainState starts a new chain with a random ID; a ChainID with Seq
	// 0 starts a new chain with that ID.
	Resume ChainState
	// Clock stamps checkpoints; the system clock when nil.
	Clock logical.Clock
	// Logger receives checkpoint failures; nothing is logged when nil.
	Logger *slog.Logger
	// NodeID names the cluster node that writes through the device: it is
	// written in every line (node_id). Empty on a single server.
	NodeID string
}

// Device is one enabled audit device: it formats entries, chains the lines
// and writes them to its sink one at a time. It is safe for concurrent
// use.
type Device struct {
	path    string
	sink    Sink
	witness Sink // nil for none
	f       formatter
	nodeID  string
	signer  ed25519.PrivateKey
	every   int
	clock   logical.Clock
	logger  *slog.Logger

	// sem is a one-slot semaphore held while a line is being written; it
	// guards the fields below and lets a waiting writer give up with its
	// context.
	sem     chan struct{}
	state   ChainState
	pending int        // entries written since the last checkpoint
	line    []byte     // the last line written; its array is reused
	closed  bool       // Close has run
	torn    *tornWrite // a failed write not yet recorded in the chain
}

// tornWrite is a failed write on a [Repairer] sink, until the device has
// repaired the sink and recorded it in its chain.
type tornWrite struct {
	err      string // the first failure
	failures int64  // failed writes since the last complete line
	repaired bool
	offset   int64
	cut      int64
}

// NewDevice returns a device writing to o.Sink. When the sink is a
// [Tailer] whose last line belongs to a chain, the device continues that
// chain; otherwise it continues o.Resume or starts a new chain. NewDevice
// writes nothing and starts no goroutine.
func NewDevice(o DeviceOptions) (*Device, error) {
	if o.Sink == nil {
		return nil, errors.New("audit device needs a sink")
	}
	if len(o.Keys.HMAC) != HMACKeySize {
		return nil, fmt.Errorf("audit hmac key must be %d bytes", HMACKeySize)
	}
	if len(o.Keys.Signing) != ed25519.PrivateKeySize {
		return nil, errors.New("audit signing key must be an ed25519 private key")
	}
	if o.CheckpointEvery < 0 {
		return nil, errors.New("audit checkpoint interval must not be negative")
	}
	d := &Device{
		path:    o.Path,
		sink:    o.Sink,
		witness: o.Witness,
		f:       newFormatter(o.Keys.HMAC, o.LogRaw, o.RawAccessor, o.NodeID),
		nodeID:  o.NodeID,
		signer:  o.Keys.Signing,
		every:   o.CheckpointEvery,
		clock:   o.Clock,
		logger:  o.Logger,
		sem:     make(chan struct{}, 1),
		state:   o.Resume,
	}
	if d.every == 0 {
		d.every = DefaultCheckpointEvery
	}
	if d.clock == nil {
		d.clock = logical.SystemClock{}
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if t, ok := o.Sink.(Tailer); ok {
		d.state = ChainState{}
		if last := t.LastLine(); last != nil {
			d.state, d.pending = resumeFrom(last)
		}
	}
	if d.state.ChainID != "" && !validChainID(d.state.ChainID) {
		return nil, errors.New("audit chain id must be 16 hex digits")
	}
	if d.state.Seq > 0 && (len(d.state.Head) != 64 || !isHexString(d.state.Head)) {
		return nil, errors.New("audit chain head must be a hex SHA-256")
	}
	if d.state.Seq == 0 {
		// A new chain: under the given ID (tests, golden files) or a
		// random one.
		d.state.Head = ""
	}
	if d.state.ChainID == "" {
		var id [8]byte
		if _, err := rand.Read(id[:]); err != nil {
			return nil, fmt.Errorf("generate audit chain id: %w", err)
		}
		d.state = ChainState{ChainID: hex.EncodeToString(id[:])}
	}
	return d, nil
}

// resumeFrom returns the chain state after last, a line read back from a
// sink, and how many entries may be unchecked. A line that does not parse as a chain line gives a zero
// state: the device starts a new chain.
func resumeFrom(last []byte) (ChainState, int) {
	var l Line
	if err := json.Unmarshal(last, &l); err != nil || l.Seq == 0 || !validChainID(l.ChainID) {
		return ChainState{}, 0
	}
	st := ChainState{ChainID: l.ChainID, Seq: l.Seq, Head: LineHash(last)}
	if l.Type == TypeCheckpoint {
		return st, 0
	}
	// Entries after the last checkpoint were written before the restart;
	// the next checkpoint covers them.
	return st, 1
}

// validChainID reports whether s looks like a chain ID this package makes.
func validChainID(s string) bool {
	return len(s) == 16 && isHexString(s)
}

// isHexString reports whether s is lowercase hex digits.
func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Path returns where the device is enabled, e.g. "file/".
func (d *Device) Path() string { return d.path }

// Type returns the device type, e.g. "file".
func (d *Device) Type() string { return d.sink.Type() }

// HashValue returns the HMAC of s under the device's key, as written in
// its log ("hmac-sha256:<hex>"), for sys/audit-hash. It hashes even when
// the device logs raw.
func (d *Device) HashValue(s string) string { return d.f.hashValue(s) }

// PublicKey returns the key that verifies the device's checkpoints.
func (d *Device) PublicKey() ed25519.PublicKey {
	return d.signer.Public().(ed25519.PublicKey)
}

// State returns where the device's chain stands. It waits for a write in
// progress and gives up with ctx.
func (d *Device) State(ctx context.Context) (ChainState, error) {
	if err := d.lock(ctx); err != nil {
		return ChainState{}, err
	}
	defer d.unlock()
	return d.state, nil
}

func (d *Device) lock(ctx context.Context) error {
	select {
	case d.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("audit device %q busy: %w", d.path, ctx.Err())
	}
}

func (d *Device) unlock() { <-d.sem }

// Log writes e as a line of type typ ([TypeRequest], [TypeResponse] or
// [TypeForward]),
// then a checkpoint when one is due. It returns when the line is written
// or has failed; if ctx ends while another write holds the device, it
// gives up. A failed write leaves the chain where it was. A failed
// checkpoint does not fail the entry: it is logged and retried after the
// next entry.
func (d *Device) Log(ctx context.Context, typ string, e *Entry) error {
	if typ != TypeRequest && typ != TypeResponse && typ != TypeForward {
		return fmt.Errorf("audit entry type %q", typ)
	}
	bp, err := d.f.format(typ, e)
	if err != nil {
		return err
	}
	defer d.f.release(bp)
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	if _, err := d.appendLocked(ctx, *bp); err != nil {
		return err
	}
	d.pending++
	if d.pending >= d.every {
		if err := d.checkpointLocked(ctx); err != nil {
			d.logger.Error("write audit checkpoint", "path", d.path, "err", err)
		}
	}
	return nil
}

// appendLocked chains body (a JSON object), writes it and returns the
// line written, which is valid until the next call. The caller holds sem.
func (d *Device) appendLocked(ctx context.Context, body []byte) ([]byte, error) {
	if d.torn != nil {
		if err := d.recoverLocked(ctx); err != nil {
			return nil, err
		}
	}
	seq := d.state.Seq + 1
	line := d.line[:0]
	if cap(line) > maxPooledBuf {
		line = nil
	}
	line = append(line, `{"seq":`...)
	line = strconv.AppendUint(line, seq, 10)
	line = append(line, `,"chain_id":"`...)
	line = append(line, d.state.ChainID...)
	line = append(line, `","prev_hash":"`...)
	line = append(line, d.state.Head...)
	line = append(line, `",`...)
	line = append(line, body[1:]...)
	line = append(line, '\n')
	if err := d.sink.Write(ctx, line); err != nil {
		if _, ok := d.sink.(Repairer); ok {
			d.torn = &tornWrite{err: err.Error(), failures: 1}
			// Repair now when possible; the next write retries it.
			d.repairLocked()
		}
		return nil, fmt.Errorf("audit device %q: %w", d.path, err)
	}
	d.line = line
	d.state.Seq = seq
	d.state.Head = LineHash(line[:len(line)-1])
	return line, nil
}

// repairLocked cuts a torn write out of the sink. The caller holds sem.
func (d *Device) repairLocked() error {
	if d.torn.repaired {
		return nil
	}
	off, cut, err := d.sink.(Repairer).Repair()
	if err != nil {
		return fmt.Errorf("audit device %q: repair after a failed write: %w", d.path, err)
	}
	d.torn.repaired, d.torn.offset, d.torn.cut = true, off, d.torn.cut+cut
	return nil
}

// tornBody is a torn_write line without its chain fields.
type tornBody struct {
	Type     string `json:"type"`
	Time     string `json:"time"`
	NodeID   string `json:"node_id,omitempty"`
	Offset   int64  `json:"offset"`
	CutBytes int64  `json:"cut_bytes"`
	Failures int64  `json:"failed_writes"`
	Error    string `json:"error"`
}

// recoverLocked repairs the sink after a failed write and records that in
// the chain, before any other line is written. The caller holds sem.
func (d *Device) recoverLocked(ctx context.Context) error {
	if err := d.repairLocked(); err != nil {
		return err
	}
	tw := d.torn
	b, err := json.Marshal(&tornBody{Type: TypeTornWrite, Time: formatTime(d.clock.Now()), NodeID: d.nodeID, Offset: tw.offset, CutBytes: tw.cut, Failures: tw.failures, Error: tw.err})
	if err != nil {
		return fmt.Errorf("encode audit torn write record: %w", err)
	}
	d.torn = nil
	if _, err := d.appendLocked(ctx, b); err != nil {
		if d.torn != nil {
			// The record itself failed: one record will tell both.
			d.torn.err = tw.err
			d.torn.cut += tw.cut
			d.torn.failures += tw.failures
		}
		return err
	}
	d.pending++
	return nil
}

// checkpointBody is a checkpoint line without its chain fields.
type checkpointBody struct {
	Type      string `json:"type"`
	Time      string `json:"time"`
	NodeID    string `json:"node_id,omitempty"`
	Hash      string `json:"hash"`
	Signature string `json:"signature"`
}

// checkpointLocked writes a signed checkpoint, then sends it to the
// witness. The caller holds sem.
func (d *Device) checkpointLocked(ctx context.Context) error {
	cb := checkpointBody{
		Type:   TypeCheckpoint,
		Time:   formatTime(d.clock.Now()),
		NodeID: d.nodeID,
		Hash:   d.state.Head,
	}
	msg := CheckpointMessage(d.state.ChainID, d.state.Seq+1, cb.Hash, cb.Time)
	cb.Signature = hex.EncodeToString(ed25519.Sign(d.signer, msg))
	b, err := json.Marshal(&cb)
	if err != nil {
		return fmt.Errorf("encode audit checkpoint: %w", err)
	}
	line, err := d.appendLocked(ctx, b)
	if err != nil {
		return err
	}
	d.pending = 0
	if d.witness != nil {
		// The checkpoint is in the file: a witness that cannot take it
		// must not fail the entry, but an operator should know.
		if err := d.witness.Write(ctx, line); err != nil {
			d.logger.Error("send audit checkpoint to its witness", "path", d.path, "witness", d.witness.Type(), "err", err)
		}
	}
	return nil
}

// Checkpoint writes a checkpoint now if any entry was written since the
// last one.
func (d *Device) Checkpoint(ctx context.Context) error {
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	if d.pending == 0 {
		return nil
	}
	return d.checkpointLocked(ctx)
}

// Reload checkpoints what the current destination holds, then reopens it
// (on SIGHUP, after log rotation). The chain continues in the new file.
func (d *Device) Reload(ctx context.Context) error {
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	var errs []error
	if d.pending > 0 {
		errs = append(errs, d.checkpointLocked(ctx))
	}
	if err := d.sink.Reload(); err != nil {
		errs = append(errs, fmt.Errorf("reload audit device %q: %w", d.path, err))
	}
	if d.witness != nil {
		if err := d.witness.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("reload the witness of audit device %q: %w", d.path, err))
		}
	}
	return errors.Join(errs...)
}

// Close writes a final checkpoint when one is due and closes the sink.
// Later calls return [ErrClosed].
func (d *Device) Close(ctx context.Context) error {
	if err := d.lock(ctx); err != nil {
		return err
	}
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	d.closed = true
	var errs []error
	if d.pending > 0 {
		errs = append(errs, d.checkpointLocked(ctx))
	}
	if err := d.sink.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close audit device %q: %w", d.path, err))
	}
	if d.witness != nil {
		if err := d.witness.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the witness of audit device %q: %w", d.path, err))
		}
	}
	return errors.Join(errs...)
}

// Head is where a device's chain stands, signed: the seq and hash of the
// last line written, at Time, for a file to be compared with (a file cut
// short ends before Seq).
type Head struct {
	ChainID   string
	Seq       uint64
	Hash      string
	Time      string
	Signature string // hex Ed25519 signature of [HeadMessage]
}

// Head returns the chain's current head, signed with the checkpoint key.
// It waits for a write in progress and gives up with ctx.
func (d *Device) Head(ctx context.Context) (Head, error) {
	if err := d.lock(ctx); err != nil {
		return Head{}, err
	}
	defer d.unlock()
	h := Head{ChainID: d.state.ChainID, Seq: d.state.Seq, Hash: d.state.Head, Time: formatTime(d.clock.Now())}
	h.Signature = hex.EncodeToString(ed25519.Sign(d.signer, HeadMessage(h.ChainID, h.Seq, h.Hash, h.Time)))
	return h, nil
}

// headDomain separates head signatures from checkpoint signatures.
const headDomain = "coffer-audit-head-v1"

// HeadMessage returns the bytes a head's signature covers: the domain
// string, the chain ID, the seq, the hash and the time, separated by NUL
// bytes.
func HeadMessage(chainID string, seq uint64, hash, time string) []byte {
	return signedMessage(headDomain, chainID, seq, hash, time)
}

// LineHash returns the hex SHA-256 of line, which must not include its
// trailing newline: the next line's prev_hash.
func LineHash(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// checkpointDomain separates checkpoint signatures from anything else the
// key could sign.
const checkpointDomain = "coffer-audit-checkpoint-v1"

// CheckpointMessage returns the bytes a checkpoint's signature covers:
// the domain string, the chain ID, the checkpoint's own seq, the hash of
// the line before it and its time exactly as written, separated by NUL
// bytes.
func CheckpointMessage(chainID string, seq uint64, hash, time string) []byte {
	return signedMessage(checkpointDomain, chainID, seq, hash, time)
}

// signedMessage joins a signature's domain and fields with NUL bytes; the
// domain keeps a head signature from ever passing as a checkpoint's.
func signedMessage(domain, chainID string, seq uint64, hash, time string) []byte {
	msg := make([]byte, 0, len(domain)+len(chainID)+len(hash)+len(time)+24)
	msg = append(msg, domain...)
	msg = append(msg, 0)
	msg = append(msg, chainID...)
	msg = append(msg, 0)
	msg = strconv.AppendUint(msg, seq, 10)
	msg = append(msg, 0)
	msg = append(msg, hash...)
	msg = append(msg, 0)
	msg = append(msg, time...)
	return msg
}
