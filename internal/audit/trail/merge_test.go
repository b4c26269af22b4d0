package trail_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
)

// bufSink keeps a device's lines in memory.
type bufSink struct{ b bytes.Buffer }

func (*bufSink) Type() string { return "file" }
func (s *bufSink) Write(_ context.Context, line []byte) error {
	s.b.Write(line)
	return nil
}
func (*bufSink) Reload() error { return nil }
func (*bufSink) Close() error  { return nil }

// nodeLog writes one node's log: an entry at each of the given minutes
// after baseTime, with request IDs "<node>-<minute>".
func nodeLog(t *testing.T, node string, minutes ...int) []byte {
	t.Helper()
	keys, err := audit.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	s := &bufSink{}
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: s, Keys: keys, NodeID: node, CheckpointEvery: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range minutes {
		e := &audit.Entry{Time: baseTime.Add(time.Duration(m) * time.Minute), Request: audit.Request{ID: fmt.Sprintf("%s-%d", node, m), Operation: "read", Path: "secret/data/a"}}
		if err := d.Log(t.Context(), audit.TypeRequest, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s.b.Bytes()
}

func TestSearchMerged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		logs [][]byte
		want string
	}{
		{
			name: "interleaved by time",
			logs: [][]byte{nodeLog(t, "a", 1, 3, 5), nodeLog(t, "b", 2, 4, 6)},
			want: "a-1 b-2 a-3 b-4 a-5 b-6",
		},
		{
			name: "equal times keep the order of the logs",
			logs: [][]byte{nodeLog(t, "a", 1, 2), nodeLog(t, "b", 1, 2), nodeLog(t, "c", 0, 2)},
			want: "c-0 a-1 b-1 a-2 b-2 c-2",
		},
		{
			name: "a log out of time order keeps its own order",
			logs: [][]byte{nodeLog(t, "a", 5, 1), nodeLog(t, "b", 3)},
			want: "b-3 a-5 a-1",
		},
		{
			name: "an empty log",
			logs: [][]byte{nil, nodeLog(t, "b", 1)},
			want: "b-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var rs []io.Reader
			for _, l := range tt.logs {
				rs = append(rs, bytes.NewReader(l))
			}
			var got []string
			for m, err := range trail.SearchMerged(t.Context(), rs, trail.Filter{}) {
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.SplitN(m.Entry.Request.ID, "-", 2)[0]; m.Entry.NodeID != want {
					t.Errorf("entry %s has node_id %q", m.Entry.Request.ID, m.Entry.NodeID)
				}
				got = append(got, m.Entry.Request.ID)
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("SearchMerged order = %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

// TestSearchMergedBadLines: a line that is no audit line is reported with
// its log and line number, and the merge goes on.
func TestSearchMergedBadLines(t *testing.T) {
	t.Parallel()
	a := append(nodeLog(t, "a", 1), "not json\n"...)
	a = append(a, nodeLog(t, "a", 3)...)
	b := nodeLog(t, "b", 2)
	var ids []string
	var bad []string
	for m, err := range trail.SearchMerged(t.Context(), []io.Reader{bytes.NewReader(a), bytes.NewReader(b)}, trail.Filter{}) {
		if err != nil {
			bad = append(bad, fmt.Sprintf("%d:%d", m.File, m.Line))
			continue
		}
		ids = append(ids, m.Entry.Request.ID)
	}
	if strings.Join(ids, " ") != "a-1 b-2 a-3" || strings.Join(bad, " ") != "0:3" {
		t.Errorf("SearchMerged = %q, bad lines %q; want a-1 b-2 a-3 and 0:3", ids, bad)
	}
}

// TestVerifyNodeLog: a node's log, with node_id and forward lines,
// verifies as one chain.
func TestVerifyNodeLog(t *testing.T) {
	t.Parallel()
	keys, err := audit.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	s := &bufSink{}
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: s, Keys: keys, NodeID: "node-1", CheckpointEvery: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		typ := audit.TypeRequest
		e := testEntry(i)
		if i%3 == 1 {
			typ, e.Forward = audit.TypeForward, &audit.Forward{Target: "10.0.0.1:8201"}
		}
		if err := d.Log(t.Context(), typ, e); err != nil {
			t.Fatal(err)
		}
	}
	d.Close(t.Context())
	rep, err := trail.VerifyWith(bytes.NewReader(s.b.Bytes()), trail.Options{PublicKey: d.PublicKey()})
	if err != nil || rep.ProblemCount != 0 || !rep.SignaturesChecked {
		t.Fatalf("VerifyWith = %+v, %v; want no problem, signatures checked", rep, err)
	}
	n := 0
	for m, err := range trail.Search(bytes.NewReader(s.b.Bytes()), trail.Filter{Types: []string{audit.TypeForward}}) {
		if err != nil || m.Entry.NodeID != "node-1" || m.Entry.Forward == nil {
			t.Errorf("forward entry %+v, %v", m.Entry, err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("search for forward entries found %d, want 2", n)
	}
}
