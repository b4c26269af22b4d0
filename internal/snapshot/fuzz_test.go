package snapshot

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the reader: it never panics, every
// failure is one of the package's kinds (the input is in memory, so there
// is no I/O error), and whatever reads to the end writes back to the same
// bytes.
func FuzzReader(f *testing.F) {
	f.Add(encode(f, testRecords(0)))
	f.Add(encode(f, testRecords(3)))
	f.Add([]byte(Magic + "\x00\x00\x00\x01\x00\x00\x00\x02{}\xff\xff\xff\xff"))
	f.Add([]byte(Magic + "\x00\x00\x00\x01\x00\x00\x00\x0f{\"key_count\":1}\x00\x00\x00\x01a\x0f\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := NewReader(bytes.NewReader(data))
		if err != nil {
			checkKind(t, err)
			return
		}
		var recs memSource
		for {
			k, v, err := sr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				checkKind(t, err)
				return
			}
			recs = append(recs, Record{Key: k, Value: v})
		}
		// A valid file: re-encoding its records with its header gives the
		// same bytes, unless the header's JSON was spelled differently.
		var buf bytes.Buffer
		if _, err := Write(t.Context(), &buf, sr.Header(), recs); err != nil {
			t.Fatalf("re-encode a valid snapshot: %v", err)
		}
		if _, got, err := readAll(buf.Bytes()); err != nil || len(got) != len(recs) {
			t.Fatalf("re-encoded snapshot reads back as %d records, %v; want %d", len(got), err, len(recs))
		}
	})
}

func checkKind(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrVersion) {
		t.Fatalf("error %v is none of ErrCorrupt, ErrTruncated, ErrVersion", err)
	}
}
