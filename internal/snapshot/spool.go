package snapshot

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
)

// Record is one key and its value as stored.
type Record struct {
	Key   string
	Value []byte
}

// File is a snapshot that has been read in full, verified and copied to a
// private temporary file. Create it with [Spool]; Close removes it.
type File struct {
	f    *os.File
	name string
	hdr  Header
	kept map[string][]byte
}

// Spool reads a whole snapshot from r, verifying its framing, count and
// checksum, into a new temporary file in dir (the system's temporary
// directory when dir is empty), and keeps the values of the keys named in
// keep in memory. Nothing has been applied anywhere when it fails: errors
// match [ErrCorrupt], [ErrTruncated] or [ErrVersion], or are I/O errors.
func Spool(r io.Reader, dir string, keep ...string) (_ *File, err error) {
	f, err := os.CreateTemp(dir, "coffer-restore-*.snap")
	if err != nil {
		return nil, fmt.Errorf("create snapshot spool file: %w", err)
	}
	sf := &File{f: f, name: f.Name(), kept: make(map[string][]byte)}
	defer func() {
		if err != nil {
			sf.Close()
		}
	}()
	sr, err := NewReader(io.TeeReader(r, f))
	if err != nil {
		return nil, err
	}
	for {
		k, v, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if slices.Contains(keep, k) {
			sf.kept[k] = v
		}
	}
	sf.hdr = sr.Header()
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync snapshot spool file: %w", err)
	}
	return sf, nil
}

// Header returns the verified header.
func (sf *File) Header() Header { return sf.hdr }

// Value returns the value of a key named in Spool's keep list, and
// whether the snapshot has that key.
func (sf *File) Value(key string) ([]byte, bool) {
	v, ok := sf.kept[key]
	return v, ok
}

// Records iterates over the records of the spooled file, reading it again
// from the start (and checking it again) on each call. Each value is the
// caller's to keep.
func (sf *File) Records() iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		sr, err := NewReader(io.NewSectionReader(sf.f, 0, 1<<62))
		if err != nil {
			yield(Record{}, err)
			return
		}
		for {
			k, v, err := sr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Record{}, err)
				return
			}
			if !yield(Record{Key: k, Value: v}, nil) {
				return
			}
		}
	}
}

// Close closes and removes the temporary file.
func (sf *File) Close() error {
	return errors.Join(sf.f.Close(), ignoreMissing(os.Remove(sf.name)))
}

func ignoreMissing(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
