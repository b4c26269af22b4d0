package trail_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
	"github.com/google/go-cmp/cmp"
)

func TestSearch(t *testing.T) {
	t.Parallel()
	const n = 12
	lines, _, hash := writeLog(t, n, audit.TypeResponse)
	data := join(lines)
	tests := []struct {
		name string
		f    trail.Filter
		// want selects the entry indexes (as testEntry numbers them) the
		// filter must find.
		want func(i int) bool
	}{
		{name: "everything", want: func(int) bool { return true }},
		{name: "path prefix", f: trail.Filter{PathPrefix: "secret/"}, want: func(i int) bool { return i%3 != 2 }},
		{name: "exact path", f: trail.Filter{PathPrefix: "secret/data/b"}, want: func(i int) bool { return i%3 == 1 }},
		{name: "operation", f: trail.Filter{Operations: []string{"update"}}, want: func(i int) bool { return i%2 == 1 }},
		{name: "raw accessor hashed with the device key", f: trail.Filter{Accessor: "acc-1", HashAccessor: hash}, want: func(i int) bool { return i%2 == 1 }},
		{name: "hashed accessor", f: trail.Filter{Accessor: hash("acc-0")}, want: func(i int) bool { return i%2 == 0 }},
		{name: "raw accessor without the key finds nothing", f: trail.Filter{Accessor: "acc-0"}, want: func(int) bool { return false }},
		{name: "entity", f: trail.Filter{EntityID: "ent-1"}, want: func(i int) bool { return i%2 == 1 }},
		{name: "time range", f: trail.Filter{Since: baseTime.Add(3 * time.Minute), Until: baseTime.Add(7 * time.Minute)}, want: func(i int) bool { return i >= 3 && i < 7 }},
		{name: "since only", f: trail.Filter{Since: baseTime.Add(10 * time.Minute)}, want: func(i int) bool { return i >= 10 }},
		{name: "failed", f: trail.Filter{Status: trail.Failed}, want: func(i int) bool { return i%4 == 3 }},
		{name: "succeeded", f: trail.Filter{Status: trail.Succeeded}, want: func(i int) bool { return i%4 != 3 }},
		{name: "value", f: trail.Filter{Values: []string{hash("value-5"), hash("value-9")}}, want: func(i int) bool { return i == 5 || i == 9 }},
		{name: "raw value in an HMACed log finds nothing", f: trail.Filter{Values: []string{"value-5"}}, want: func(int) bool { return false }},
		{name: "requests only", f: trail.Filter{Types: []string{"request"}}, want: func(int) bool { return false }},
		{
			name: "combined",
			f:    trail.Filter{PathPrefix: "secret/", Operations: []string{"read"}, Status: trail.Succeeded},
			want: func(i int) bool { return i%3 != 2 && i%2 == 0 && i%4 != 3 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got, want []string
			for i := range n {
				if tt.want(i) {
					want = append(want, testEntry(i).Request.ID)
				}
			}
			for m, err := range trail.Search(bytes.NewReader(data), tt.f) {
				if err != nil {
					t.Fatalf("Search() error %v", err)
				}
				if !bytes.Equal(m.Raw, lines[m.Line-1]) {
					t.Errorf("match on line %d: Raw is not that line", m.Line)
				}
				got = append(got, m.Entry.Request.ID)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Search(%+v) request IDs (-want +got):\n%s", tt.f, diff)
			}
		})
	}
}

func TestSearchBadLinesAndStop(t *testing.T) {
	t.Parallel()
	lines, _, _ := writeLog(t, 4, audit.TypeRequest)
	ls := append([][]byte{[]byte("garbage")}, lines...)
	var errs, matches int
	for m, err := range trail.Search(bytes.NewReader(join(ls)), trail.Filter{}) {
		if err != nil {
			errs++
			if !strings.Contains(err.Error(), "line 1") {
				t.Errorf("error %q does not name line 1", err)
			}
			continue
		}
		matches++
		if m.Line != 2 {
			t.Errorf("first match on line %d, want 2", m.Line)
		}
		break
	}
	if errs != 1 || matches != 1 {
		t.Errorf("got %d errors and %d matches before break, want 1 and 1", errs, matches)
	}
}

func FuzzSearch(f *testing.F) {
	lines, _, hash := writeLog(f, 5, audit.TypeResponse)
	f.Add(join(lines), "secret/", hash("value-1"))
	f.Add([]byte("{}\n{\"type\":\"request\",\"time\":\"2030-01-01T00:00:00Z\"}\nnot json"), "", "")
	f.Fuzz(func(t *testing.T, data []byte, prefix, value string) {
		filter := trail.Filter{PathPrefix: prefix, Since: baseTime, Status: trail.Succeeded}
		if value != "" {
			filter.Values = []string{value}
		}
		last := 0
		for m, err := range trail.Search(bytes.NewReader(data), filter) {
			if m.Line <= last && m.Line != 0 {
				t.Fatalf("line %d after line %d", m.Line, last)
			}
			last = max(last, m.Line)
			if err != nil {
				continue
			}
			var path string
			if m.Entry.Request != nil {
				path = m.Entry.Request.Path
			}
			if !strings.HasPrefix(path, prefix) || m.Entry.Error != "" {
				t.Fatalf("match on line %d does not meet the filter", m.Line)
			}
		}
	})
}
