package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-secrets/coffer/internal/storage/postgres"
)

// bulkLoad copies n keys named by key(i), each with a 256-byte value,
// straight into schema's key/value table with COPY, then analyzes it.
func bulkLoad(tb testing.TB, schema string, n int, key func(i int) string) {
	tb.Helper()
	conn := admin(tb)
	value := make([]byte, 256)
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		k := key(i)
		i++
		cut := 0
		for j := range len(k) {
			if k[j] == '/' {
				cut = j + 1
			}
		}
		return []any{[]byte(k[:cut]), []byte(k[cut:]), value}, nil
	})
	start := time.Now()
	copied, err := conn.CopyFrom(tb.Context(), pgx.Identifier{schema, postgres.DefaultTable}, []string{"dir", "name", "value"}, src)
	if err != nil || copied != int64(n) {
		tb.Fatalf("COPY %d keys = %d, %v", n, copied, err)
	}
	if _, err := conn.Exec(tb.Context(), "ANALYZE "+pgx.Identifier{schema, postgres.DefaultTable}.Sanitize()); err != nil {
		tb.Fatalf("ANALYZE: %v", err)
	}
	tb.Logf("COPY of %d keys and ANALYZE took %s", n, time.Since(start).Round(time.Millisecond))
}

// TestListAtScale lists folders of a table holding 200,000 keys. Each
// listing's time is logged; the folder skip keeps listings of few names
// cheap however many keys lie beneath them.
func TestListAtScale(t *testing.T) {
	t.Parallel()
	url, schema := newSchema(t)
	s := open(t, url)
	const half = 100_000
	bulkLoad(t, schema, 2*half, func(i int) string {
		if i < half {
			return fmt.Sprintf("big/deep/f%03d/k%04d/v", i/1000, i%1000)
		}
		return fmt.Sprintf("big/flat/k%06d", i-half)
	})
	tests := []struct {
		prefix      string
		n           int
		first, last string
	}{
		{"", 1, "big/", "big/"},
		{"big/", 2, "deep/", "flat/"},
		{"big/deep/", 100, "f000/", "f099/"},
		{"big/deep/f042/", 1000, "k0000/", "k0999/"},
		{"big/deep/f042/k0123/", 1, "v", "v"},
		{"big/deep/f04", 10, "0/", "9/"},
		{"big/flat/k0999", 100, "00", "99"},
		{"big/flat/", half, "k000000", "k099999"},
	}
	for _, tt := range tests {
		start := time.Now()
		names, err := s.List(t.Context(), tt.prefix)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("List(%q) = %v", tt.prefix, err)
		}
		t.Logf("List(%q) over %d keys: %d names in %s", tt.prefix, 2*half, len(names), d.Round(time.Microsecond))
		if len(names) != tt.n || names[0] != tt.first || names[len(names)-1] != tt.last {
			t.Errorf("List(%q) = %d names from %q to %q, want %d from %q to %q",
				tt.prefix, len(names), names[0], names[len(names)-1], tt.n, tt.first, tt.last)
		}
	}
}
