package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// memSource is a Source over sorted records.
type memSource []Record

func (m memSource) Len(context.Context) (int64, error) { return int64(len(m)), nil }

func (m memSource) Range(_ context.Context, fn func(string, []byte) error) error {
	for _, r := range m {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

func testRecords(n int) memSource {
	var m memSource
	for i := range n {
		m = append(m, Record{Key: fmt.Sprintf("logical/uuid/key-%05d", i), Value: bytes.Repeat([]byte{byte(i)}, i%37)})
	}
	return m
}

func encode(t testing.TB, recs memSource) []byte {
	t.Helper()
	var buf bytes.Buffer
	hdr := Header{Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), StorageType: "bolt", Keyring: KeyringInfo{ActiveTerm: 2}}
	if _, err := Write(t.Context(), &buf, hdr, recs); err != nil {
		t.Fatalf("Write() = %v", err)
	}
	return buf.Bytes()
}

func readAll(data []byte) (Header, []Record, error) {
	sr, err := NewReader(bytes.NewReader(data))
	if err != nil {
		return Header{}, nil, err
	}
	var out []Record
	for {
		k, v, err := sr.Next()
		if err == io.EOF {
			return sr.Header(), out, nil
		}
		if err != nil {
			return Header{}, nil, err
		}
		out = append(out, Record{Key: k, Value: v})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			recs := testRecords(n)
			hdr, got, err := readAll(encode(t, recs))
			if err != nil {
				t.Fatalf("read = %v", err)
			}
			if hdr.KeyCount != int64(n) || hdr.StorageType != "bolt" || hdr.Keyring.ActiveTerm != 2 {
				t.Errorf("Header() = %+v, want %d keys from bolt at term 2", hdr, n)
			}
			if diff := cmp.Diff([]Record(recs), got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDamageRefused flips each byte and cuts the file at each length: every
// damaged file is refused with ErrCorrupt or ErrTruncated.
func TestDamageRefused(t *testing.T) {
	t.Parallel()
	data := encode(t, testRecords(5))
	for i := range data {
		bad := bytes.Clone(data)
		bad[i] ^= 0x01
		if _, _, err := readAll(bad); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrVersion) {
			t.Errorf("byte %d flipped: read = %v, want a corrupt, truncated or version error", i, err)
		}
	}
	for n := range len(data) {
		_, _, err := readAll(data[:n])
		if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Errorf("cut at %d of %d: read = %v, want ErrTruncated", n, len(data), err)
		}
		if n > len(Magic)+8 && !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d of %d: read = %v, want ErrTruncated", n, len(data), err)
		}
	}
	if _, _, err := readAll(append(bytes.Clone(data), 0)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: read = %v, want ErrCorrupt", err)
	}
}

func TestReaderErrors(t *testing.T) {
	t.Parallel()
	good := encode(t, testRecords(2))
	withVersion := bytes.Clone(good)
	withVersion[len(Magic)+3] = 9
	tests := []struct {
		name string
		data []byte
		want error
		text string
	}{
		{"empty", nil, ErrCorrupt, "no magic"},
		{"not a snapshot", []byte(strings.Repeat("x", 64)), ErrCorrupt, "wrong magic"},
		{"future version", withVersion, ErrVersion, "version 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := readAll(tt.data)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("read = %v, want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
}

func TestWriterRefusesBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		recs memSource
	}{
		{"unsorted", memSource{{Key: "b"}, {Key: "a"}}},
		{"duplicate", memSource{{Key: "a"}, {Key: "a"}}},
		{"empty key", memSource{{Key: ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Write(t.Context(), io.Discard, Header{}, tt.recs); err == nil {
				t.Errorf("Write(%v) = nil, want an error", tt.recs)
			}
		})
	}
	// A source whose Range yields fewer records than Len said.
	sw, err := NewWriter(io.Discard, Header{KeyCount: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Add("a", nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err == nil {
		t.Error("Close() after 1 of 2 records = nil, want an error")
	}
}

func TestSpool(t *testing.T) {
	t.Parallel()
	recs := append(testRecords(3), Record{Key: "core/keyring", Value: []byte("ring")})
	recs = memSource{recs[3], recs[0], recs[1], recs[2]}
	data := encode(t, recs)
	sf, err := Spool(bytes.NewReader(data), t.TempDir(), "core/keyring", "core/missing")
	if err != nil {
		t.Fatalf("Spool() = %v", err)
	}
	defer sf.Close()
	if v, ok := sf.Value("core/keyring"); !ok || string(v) != "ring" {
		t.Errorf("Value(core/keyring) = %q, %v, want ring, true", v, ok)
	}
	if _, ok := sf.Value("core/missing"); ok {
		t.Error("Value(core/missing) found, want not found")
	}
	var got []Record
	for r, err := range sf.Records() {
		if err != nil {
			t.Fatalf("Records() = %v", err)
		}
		got = append(got, r)
	}
	if diff := cmp.Diff([]Record(recs), got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Records() (-want +got):\n%s", diff)
	}

	dir := t.TempDir()
	if _, err := Spool(bytes.NewReader(data[:len(data)-1]), dir); !errors.Is(err, ErrTruncated) {
		t.Errorf("Spool(truncated) = %v, want ErrTruncated", err)
	}
	if left, _ := filepathGlob(dir); len(left) != 0 {
		t.Errorf("Spool(truncated) left %v behind", left)
	}
}
