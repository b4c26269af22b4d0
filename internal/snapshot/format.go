package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"time"
)

// Magic opens every snapshot file.
const Magic = "COFFER-SNAPSHOT\n"

// Version is the format version this package writes and reads.
const Version = 1

// Limits that bound what a reader accepts (and so the memory it uses).
const (
	// MaxHeaderSize is the largest JSON header, in bytes.
	MaxHeaderSize = 1 << 20
	// MaxKeySize is the longest key, in bytes (bbolt's limit).
	MaxKeySize = 32 << 10
	// MaxValueSize is the largest value, in bytes.
	MaxValueSize = 256 << 20
)

var (
	// ErrCorrupt is returned for a file that is not a well-formed snapshot
	// or whose checksum does not match its contents.
	ErrCorrupt = errors.New("snapshot is corrupt")
	// ErrTruncated is returned for a file that ends before its checksum.
	ErrTruncated = errors.New("snapshot is truncated")
	// ErrVersion is returned for a snapshot of a format version this code
	// does not read.
	ErrVersion = errors.New("snapshot format version is not supported")
)

// Header describes a snapshot. It is written in clear (it holds no secret).
type Header struct {
	// Created is when the point-in-time view was taken.
	Created time.Time `json:"created"`
	// StorageType names the storage the snapshot was taken from, such as
	// "bolt" or "postgresql".
	StorageType string `json:"storage_type"`
	// KeyCount is the number of records.
	KeyCount int64 `json:"key_count"`
	// ClusterID is the ID of the cluster the snapshot was taken from, ""
	// when unknown.
	ClusterID string `json:"cluster_id,omitempty"`
	// Keyring describes the barrier keyring in the snapshot.
	Keyring KeyringInfo `json:"keyring"`
}

// KeyringInfo describes the barrier keyring a snapshot's values are
// encrypted with. The keys themselves are in the snapshot only as the
// keyring entry, encrypted by the root key.
type KeyringInfo struct {
	// ActiveTerm is the term new values were encrypted with.
	ActiveTerm uint32 `json:"active_term"`
	// InstallTime is when the active term was created.
	InstallTime time.Time `json:"install_time"`
}

// Source is a consistent, read-only view of every key of a storage, as
// [storage.View] provides it.
type Source interface {
	// Len returns the number of keys in the view.
	Len(ctx context.Context) (int64, error)
	// Range calls fn for every key in ascending byte order. value is only
	// valid during the call.
	Range(ctx context.Context, fn func(key string, value []byte) error) error
}

// Write writes a snapshot of src to w: hdr with its KeyCount set from src,
// then every record and the trailer. It returns the header it wrote. When
// it fails, what it wrote is not a valid snapshot (the trailer is missing
// or wrong), so a reader refuses it.
func Write(ctx context.Context, w io.Writer, hdr Header, src Source) (Header, error) {
	n, err := src.Len(ctx)
	if err != nil {
		return hdr, fmt.Errorf("count keys: %w", err)
	}
	hdr.KeyCount = n
	sw, err := NewWriter(w, hdr)
	if err != nil {
		return hdr, err
	}
	if err := src.Range(ctx, sw.Add); err != nil {
		return hdr, err
	}
	return hdr, sw.Close()
}

// Writer writes a snapshot record by record. Create it with [NewWriter],
// call Add for each key in ascending order, then Close.
type Writer struct {
	bw    *bufio.Writer
	sum   hash.Hash
	out   io.Writer // bw and sum
	want  int64
	n     int64
	last  []byte
	first bool
	err   error
}

// NewWriter writes the magic, the version and hdr to w. hdr.KeyCount must
// be the number of records that will be added.
func NewWriter(w io.Writer, hdr Header) (*Writer, error) {
	js, err := json.Marshal(hdr)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot header: %w", err)
	}
	if len(js) > MaxHeaderSize {
		return nil, fmt.Errorf("snapshot header of %d bytes is larger than %d", len(js), MaxHeaderSize)
	}
	sw := &Writer{bw: bufio.NewWriterSize(w, 256<<10), sum: sha256.New(), want: hdr.KeyCount, first: true}
	sw.out = io.MultiWriter(sw.bw, sw.sum)
	var b [8]byte
	sw.write([]byte(Magic))
	binary.BigEndian.PutUint32(b[:4], Version)
	sw.write(b[:4])
	binary.BigEndian.PutUint32(b[:4], uint32(len(js)))
	sw.write(b[:4])
	sw.write(js)
	if sw.err != nil {
		return nil, sw.err
	}
	return sw, nil
}

func (sw *Writer) write(p []byte) {
	if sw.err == nil {
		_, sw.err = sw.out.Write(p)
	}
}

// Add writes one record. Keys must be non-empty and strictly ascending.
func (sw *Writer) Add(key string, value []byte) error {
	if sw.err != nil {
		return sw.err
	}
	switch {
	case len(key) == 0 || len(key) > MaxKeySize:
		return fmt.Errorf("snapshot: key of %d bytes is out of bounds", len(key))
	case len(value) > MaxValueSize:
		return fmt.Errorf("snapshot: value of %d bytes at a key is larger than %d", len(value), MaxValueSize)
	case !sw.first && key <= string(sw.last):
		return errors.New("snapshot: keys are not strictly ascending")
	}
	sw.first = false
	sw.last = append(sw.last[:0], key...)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(len(key)))
	sw.write(b[:])
	sw.write([]byte(key))
	binary.BigEndian.PutUint32(b[:], uint32(len(value)))
	sw.write(b[:])
	sw.write(value)
	sw.n++
	return sw.err
}

// Close writes the end marker, the count and the checksum, and flushes.
// It fails, writing no checksum, when the number of records added is not
// the header's KeyCount.
func (sw *Writer) Close() error {
	if sw.err != nil {
		return sw.err
	}
	if sw.n != sw.want {
		return fmt.Errorf("snapshot: %d records written, header says %d", sw.n, sw.want)
	}
	var b [8]byte
	sw.write(b[:4])
	binary.BigEndian.PutUint64(b[:], uint64(sw.n))
	sw.write(b[:])
	if sw.err != nil {
		return sw.err
	}
	if _, err := sw.bw.Write(sw.sum.Sum(nil)); err != nil {
		return err
	}
	return sw.bw.Flush()
}

// Reader reads and verifies a snapshot. Create it with [NewReader]; call
// Next until it returns io.EOF, which it does only after the checksum
// matched. Records returned before that are not yet verified.
type Reader struct {
	r    *bufio.Reader
	sum  hash.Hash
	hdr  Header
	n    int64
	last []byte
	done bool
	err  error
}

// NewReader reads the magic, the version and the header from r. Errors
// match [ErrCorrupt], [ErrTruncated] or [ErrVersion], or are r's own.
func NewReader(r io.Reader) (*Reader, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 256<<10), sum: sha256.New()}
	var magic [len(Magic)]byte
	if err := sr.full(magic[:]); err != nil {
		if errors.Is(err, ErrTruncated) {
			return nil, fmt.Errorf("%w: not a Coffer snapshot (no magic)", ErrCorrupt)
		}
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, fmt.Errorf("%w: not a Coffer snapshot (wrong magic)", ErrCorrupt)
	}
	v, err := sr.uint32()
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, fmt.Errorf("%w: version %d, this Coffer reads version %d", ErrVersion, v, Version)
	}
	hlen, err := sr.uint32()
	if err != nil {
		return nil, err
	}
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d is larger than %d", ErrCorrupt, hlen, MaxHeaderSize)
	}
	js, err := sr.bytes(int64(hlen))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(js, &sr.hdr); err != nil {
		return nil, fmt.Errorf("%w: header is not valid JSON", ErrCorrupt)
	}
	if sr.hdr.KeyCount < 0 {
		return nil, fmt.Errorf("%w: negative key count", ErrCorrupt)
	}
	return sr, nil
}

// Header returns the snapshot's header. It is not verified until Next has
// returned io.EOF.
func (sr *Reader) Header() Header { return sr.hdr }

// Next returns the next record. The key and value are the caller's. At the
// end it reads and checks the trailer and returns io.EOF; a file that ends
// early gives an error matching [ErrTruncated], and one whose framing,
// count or checksum is wrong an error matching [ErrCorrupt]. After an
// error, Next returns it again.
func (sr *Reader) Next() (key string, value []byte, err error) {
	if sr.err != nil {
		return "", nil, sr.err
	}
	key, value, err = sr.next()
	if err != nil {
		sr.err = err
	}
	return key, value, err
}

func (sr *Reader) next() (string, []byte, error) {
	klen, err := sr.uint32()
	if err != nil {
		return "", nil, err
	}
	if klen == 0 {
		return "", nil, sr.trailer()
	}
	if klen > MaxKeySize {
		return "", nil, fmt.Errorf("%w: key length %d is larger than %d", ErrCorrupt, klen, MaxKeySize)
	}
	if sr.n >= sr.hdr.KeyCount {
		return "", nil, fmt.Errorf("%w: more records than the header's %d", ErrCorrupt, sr.hdr.KeyCount)
	}
	k, err := sr.bytes(int64(klen))
	if err != nil {
		return "", nil, err
	}
	if sr.n > 0 && bytes.Compare(k, sr.last) <= 0 {
		return "", nil, fmt.Errorf("%w: keys are not strictly ascending", ErrCorrupt)
	}
	vlen, err := sr.uint32()
	if err != nil {
		return "", nil, err
	}
	if vlen > MaxValueSize {
		return "", nil, fmt.Errorf("%w: value length %d is larger than %d", ErrCorrupt, vlen, MaxValueSize)
	}
	v, err := sr.bytes(int64(vlen))
	if err != nil {
		return "", nil, err
	}
	sr.n++
	sr.last = k
	return string(k), v, nil
}

// trailer checks the count and the checksum and that nothing follows.
func (sr *Reader) trailer() error {
	var b [8]byte
	if err := sr.full(b[:]); err != nil {
		return err
	}
	if n := binary.BigEndian.Uint64(b[:]); n != uint64(sr.n) || sr.n != sr.hdr.KeyCount {
		return fmt.Errorf("%w: %d records read, trailer says %d, header says %d", ErrCorrupt, sr.n, n, sr.hdr.KeyCount)
	}
	want := sr.sum.Sum(nil)
	var got [sha256.Size]byte
	if _, err := io.ReadFull(sr.r, got[:]); err != nil {
		return truncated(err)
	}
	if subtle.ConstantTimeCompare(want, got[:]) != 1 {
		return fmt.Errorf("%w: SHA-256 checksum mismatch", ErrCorrupt)
	}
	if _, err := sr.r.ReadByte(); err == nil {
		return fmt.Errorf("%w: data after the checksum", ErrCorrupt)
	} else if err != io.EOF {
		return err
	}
	sr.done = true
	return io.EOF
}

// full fills p from the stream and hashes it.
func (sr *Reader) full(p []byte) error {
	if _, err := io.ReadFull(sr.r, p); err != nil {
		return truncated(err)
	}
	sr.sum.Write(p)
	return nil
}

func (sr *Reader) uint32() (uint32, error) {
	var b [4]byte
	if err := sr.full(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// bytes reads n bytes. A record up to 64 KiB gets one exact allocation;
// a larger one grows in 64 KiB reads, so a large declared length on a
// short stream allocates little.
func (sr *Reader) bytes(n int64) ([]byte, error) {
	const chunk = 64 << 10
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		want := int(min(n-int64(len(buf)), chunk))
		buf = slices.Grow(buf, want)
		m, err := io.ReadFull(sr.r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, truncated(err)
		}
	}
	sr.sum.Write(buf)
	return buf, nil
}

// truncated turns an early end of the stream into ErrTruncated and keeps
// other read errors.
func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends before its checksum", ErrTruncated)
	}
	return err
}
