package trail_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
	"github.com/google/go-cmp/cmp"
)

// The generated log for tamper tests: entries 1-4, checkpoint 5, entries
// 6-9, checkpoint 10, entries 11-12, checkpoint 13 (written by Close).
const tamperEntries = 10

func TestVerifyClean(t *testing.T) {
	t.Parallel()
	lines, pub, _ := writeLog(t, tamperEntries, audit.TypeRequest)
	var first audit.Line
	json.Unmarshal(lines[0], &first)
	for _, key := range []ed25519.PublicKey{pub, nil} {
		rep, err := trail.Verify(bytes.NewReader(join(lines)), key)
		if err != nil {
			t.Fatalf("Verify() = %v", err)
		}
		want := trail.Report{
			Lines: 13, Entries: 10, Checkpoints: 3, ChainID: first.ChainID,
			FirstSeq: 1, LastSeq: 13, Anchored: true, SignaturesChecked: key != nil,
			LastCheckpointLine: 13,
		}
		if diff := cmp.Diff(want, rep); diff != "" {
			t.Errorf("Verify (key %v) (-want +got):\n%s", key != nil, diff)
		}
	}
	empty, err := trail.Verify(strings.NewReader(""), pub)
	if err != nil || empty.Problem != nil || empty.Lines != 0 {
		t.Errorf("Verify(empty) = %+v, %v; want no lines and no problem", empty, err)
	}
}

// relink recomputes prev_hash (and checkpoint hash) of every line from
// index i on, as an attacker who can write the file would after an edit.
func relink(t *testing.T, lines [][]byte, i int) {
	t.Helper()
	for ; i < len(lines); i++ {
		var m map[string]any
		if err := json.Unmarshal(lines[i], &m); err != nil {
			t.Fatal(err)
		}
		prev := audit.LineHash(lines[i-1])
		old := m["prev_hash"].(string)
		lines[i] = bytes.Replace(lines[i], []byte(old), []byte(prev), -1)
	}
}

func TestVerifyTamper(t *testing.T) {
	t.Parallel()
	lines, pub, _ := writeLog(t, tamperEntries, audit.TypeRequest)
	other, _, _ := writeLog(t, tamperEntries, audit.TypeRequest)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	// line returns a 1-based line's copy.
	tests := []struct {
		name     string
		mutate   func(t *testing.T, ls [][]byte) [][]byte
		raw      func(data []byte) []byte // applied to the joined file, after mutate
		wantKind trail.Kind
		wantLine int
	}{
		{
			name: "one byte edited in an entry",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[1] = bytes.Replace(ls[1], []byte("secret/data/b"), []byte("secret/data/c"), 1)
				return ls
			},
			wantKind: trail.Edited, wantLine: 2,
		},
		{
			name: "one byte edited in the last entry before the final checkpoint",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[11] = bytes.Replace(ls[11], []byte(`"read"`), []byte(`"reed"`), 1)
				ls[11] = bytes.Replace(ls[11], []byte(`"update"`), []byte(`"updat3"`), 1)
				return ls
			},
			wantKind: trail.Edited, wantLine: 12,
		},
		{
			name: "seq edited",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[3] = bytes.Replace(ls[3], []byte(`{"seq":4,`), []byte(`{"seq":40,`), 1)
				return ls
			},
			wantKind: trail.Edited, wantLine: 4,
		},
		{
			name: "first line given a prev_hash",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[0] = bytes.Replace(ls[0], []byte(`"prev_hash":""`), []byte(`"prev_hash":"`+strings.Repeat("a", 64)+`"`), 1)
				return ls
			},
			wantKind: trail.Edited, wantLine: 1,
		},
		{
			name:     "line deleted",
			mutate:   func(t *testing.T, ls [][]byte) [][]byte { return append(ls[:2], ls[3:]...) },
			wantKind: trail.Deleted, wantLine: 3,
		},
		{
			name:     "two lines deleted",
			mutate:   func(t *testing.T, ls [][]byte) [][]byte { return append(ls[:5], ls[7:]...) },
			wantKind: trail.Deleted, wantLine: 6,
		},
		{
			name: "lines swapped",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[5], ls[6] = ls[6], ls[5]
				return ls
			},
			wantKind: trail.Reordered, wantLine: 6,
		},
		{
			name:     "line duplicated",
			mutate:   func(t *testing.T, ls [][]byte) [][]byte { return append(ls[:2], append([][]byte{ls[1]}, ls[2:]...)...) },
			wantKind: trail.Inserted, wantLine: 3,
		},
		{
			name: "earlier line copied in",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				return append(ls[:8], append([][]byte{bytes.Clone(ls[2])}, ls[8:]...)...)
			},
			wantKind: trail.Inserted, wantLine: 9,
		},
		{
			name: "forged line with the right seq and prev_hash",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				var l audit.Line
				json.Unmarshal(ls[6], &l)
				forged := []byte(`{"seq":8,"chain_id":"` + l.ChainID + `","prev_hash":"` + audit.LineHash(ls[6]) + `","type":"request","time":"2025-03-01T12:00:00Z","request":{"namespace":{"id":"root"},"path":"sys/forged"}}`)
				return append(ls[:7], append([][]byte{forged}, ls[7:]...)...)
			},
			wantKind: trail.Inserted, wantLine: 8,
		},
		{
			name:     "cut mid-line",
			raw:      func(data []byte) []byte { return data[:len(data)-40] },
			wantKind: trail.Truncated, wantLine: 13,
		},
		{
			name: "cut in the middle of line 9",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[8] = ls[8][:len(ls[8])/2]
				return ls[:9]
			},
			raw:      func(data []byte) []byte { return data[:len(data)-1] },
			wantKind: trail.Truncated, wantLine: 9,
		},
		{
			name: "lines spliced from another device's log",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[5], ls[6] = other[5], other[6]
				return ls
			},
			wantKind: trail.Foreign, wantLine: 6,
		},
		{
			name: "line replaced by garbage",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[5] = []byte("not json at all")
				return ls
			},
			wantKind: trail.Malformed, wantLine: 6,
		},
		{
			name: "checkpoint signed with another key",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				var l audit.Line
				json.Unmarshal(ls[4], &l)
				sig := ed25519.Sign(otherKey, audit.CheckpointMessage(l.ChainID, l.Seq, l.Hash, l.Time))
				ls[4] = bytes.Replace(ls[4], []byte(l.Signature), []byte(hex.EncodeToString(sig)), 1)
				relink(t, ls, 5)
				return ls
			},
			wantKind: trail.BadCheckpoint, wantLine: 5,
		},
		{
			name: "checkpoint time edited",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				var l audit.Line
				json.Unmarshal(ls[9], &l)
				ls[9] = bytes.Replace(ls[9], []byte(l.Time), []byte("2020-01-01T00:00:00Z"), 1)
				return ls
			},
			wantKind: trail.BadCheckpoint, wantLine: 10,
		},
		{
			name: "forged checkpoint appended",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				var l audit.Line
				json.Unmarshal(ls[12], &l)
				h := audit.LineHash(ls[12])
				tm := "2030-01-01T00:00:00Z"
				sig := ed25519.Sign(otherKey, audit.CheckpointMessage(l.ChainID, 14, h, tm))
				forged := `{"seq":14,"chain_id":"` + l.ChainID + `","prev_hash":"` + h + `","type":"checkpoint","time":"` + tm + `","hash":"` + h + `","signature":"` + hex.EncodeToString(sig) + `"}`
				return append(ls, []byte(forged))
			},
			wantKind: trail.BadCheckpoint, wantLine: 14,
		},
		{
			name: "edit with the chain recomputed after it",
			mutate: func(t *testing.T, ls [][]byte) [][]byte {
				ls[1] = bytes.Replace(ls[1], []byte("secret/data/b"), []byte("secret/data/c"), 1)
				relink(t, ls, 2)
				return ls
			},
			wantKind: trail.BadCheckpoint, wantLine: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ls := cloneLines(lines)
			if tt.mutate != nil {
				ls = tt.mutate(t, ls)
			}
			data := join(ls)
			if tt.raw != nil {
				data = tt.raw(data)
			}
			rep, err := trail.Verify(bytes.NewReader(data), pub)
			if err != nil {
				t.Fatalf("Verify() = %v", err)
			}
			if rep.Problem == nil {
				t.Fatalf("Verify() found no problem, want %s at line %d", tt.wantKind, tt.wantLine)
			}
			if rep.Problem.Kind != tt.wantKind || rep.Problem.Line != tt.wantLine {
				t.Errorf("Verify() = %v, want %s at line %d", rep.Problem, tt.wantKind, tt.wantLine)
			}
			if rep.Lines < rep.Problem.Line {
				t.Errorf("Report.Lines = %d, before the problem's line %d", rep.Lines, rep.Problem.Line)
			}
		})
	}
}

func TestVerifyWrongKey(t *testing.T) {
	t.Parallel()
	lines, _, _ := writeLog(t, tamperEntries, audit.TypeRequest)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rep, err := trail.Verify(bytes.NewReader(join(lines)), otherPub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem == nil || rep.Problem.Kind != trail.BadCheckpoint || rep.Problem.Line != 5 {
		t.Errorf("Verify with another device's key = %v, want bad checkpoint at line 5", rep.Problem)
	}
	if _, err := trail.Verify(bytes.NewReader(join(lines)), ed25519.PublicKey{1, 2, 3}); err == nil {
		t.Errorf("Verify with a 3-byte key = nil error")
	}
}

func TestVerifyHeadMissing(t *testing.T) {
	t.Parallel()
	lines, pub, _ := writeLog(t, tamperEntries, audit.TypeRequest)
	rep, err := trail.Verify(bytes.NewReader(join(lines[3:])), pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Problem != nil || rep.Anchored || rep.FirstSeq != 4 {
		t.Errorf("Verify(file from seq 4) = %+v, want no problem, not anchored, first seq 4", rep)
	}
	rep, _ = trail.Verify(bytes.NewReader(join(lines[:11])), pub)
	if rep.Problem != nil || rep.Unchecked != 1 || rep.LastCheckpointLine != 10 {
		t.Errorf("Verify(file cut after line 11) = %+v, want no problem and 1 unchecked entry after line 10", rep)
	}
}

// TestVerifyRotated rotates a device's file: each file verifies alone,
// and so does their concatenation.
func TestVerifyRotated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := audit.GenerateKeys()
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 3 {
		d.Log(ctx, audit.TypeRequest, testEntry(i))
	}
	os.Rename(path, path+".1")
	if err := d.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		d.Log(ctx, audit.TypeResponse, testEntry(i))
	}
	d.Close(ctx)
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	for _, tt := range []struct {
		name     string
		data     []byte
		anchored bool
	}{
		{"rotated file", old, true},
		{"current file", cur, false},
		{"both", append(bytes.Clone(old), cur...), true},
	} {
		rep, err := trail.Verify(bytes.NewReader(tt.data), d.PublicKey())
		if err != nil || rep.Problem != nil || rep.Anchored != tt.anchored {
			t.Errorf("Verify(%s) = %+v, %v; want no problem, anchored %v", tt.name, rep, err, tt.anchored)
		}
	}
}

func FuzzVerify(f *testing.F) {
	lines, pub, _ := writeLog(f, 6, audit.TypeResponse)
	good := join(lines)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(join(append(cloneLines(lines[:2]), lines[3:]...)))
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"seq":1,"chain_id":"0123456789abcdef","prev_hash":"","type":"checkpoint","time":"2025-01-01T00:00:00Z","hash":"","signature":""}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, key := range []ed25519.PublicKey{pub, nil} {
			rep, err := trail.Verify(bytes.NewReader(data), key)
			if err != nil {
				t.Fatalf("Verify() = %v on an in-memory reader", err)
			}
			if bytes.Equal(data, good) && rep.Problem != nil {
				t.Fatalf("Verify(untouched log) = %v", rep.Problem)
			}
			if p := rep.Problem; p != nil && (p.Line < 1 || p.Line > rep.Lines) {
				t.Fatalf("problem at line %d of %d lines read", p.Line, rep.Lines)
			}
			if rep.Problem == nil && rep.Entries+rep.Checkpoints != rep.Lines {
				t.Fatalf("clean report counts %d entries and %d checkpoints in %d lines", rep.Entries, rep.Checkpoints, rep.Lines)
			}
		}
	})
}

// TestVerifyReportsEveryProblem damages a log the ways a full disk and a
// crash do (a cut-off write with the next line appended to it; a cut-off
// line terminated on restart) and edits a line after them: Verify reports
// all three, tells the damage from the tampering, and counts every line.
func TestVerifyReportsEveryProblem(t *testing.T) {
	t.Parallel()
	lines, pub, _ := writeLog(t, 10, audit.TypeRequest)
	ls := cloneLines(lines)
	ls[3] = append(append([]byte{}, ls[3][:len(ls[3])/2]...), ls[3]...)
	ls = append(ls[:7], append([][]byte{append([]byte{}, ls[7][:len(ls[7])/3]...)}, ls[7:]...)...)
	ls[11] = bytes.Replace(ls[11], []byte(`"time":"2`), []byte(`"time":"1`), 1)
	rep, err := trail.Verify(bytes.NewReader(join(ls)), pub)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind   trail.Kind
		line   int
		tamper bool
	}{{trail.TornWrite, 4, false}, {trail.TornWrite, 8, false}, {trail.Edited, 12, true}}
	if len(rep.Problems) != len(want) {
		t.Fatalf("Verify() problems = %v, want %v", rep.Problems, want)
	}
	for i, w := range want {
		p := rep.Problems[i]
		if p.Kind != w.kind || p.Line != w.line || p.Kind.Tampering() != w.tamper {
			t.Errorf("problem %d = %v, want %s at line %d", i, p, w.kind, w.line)
		}
	}
	if rep.Problem == nil || *rep.Problem != rep.Problems[0] {
		t.Errorf("Report.Problem = %v, want the first of Problems", rep.Problem)
	}
	if rep.Lines != len(ls) || rep.Entries+rep.Checkpoints != len(lines) {
		t.Errorf("Report counts %d lines, %d entries and %d checkpoints; want %d lines and %d entries and checkpoints", rep.Lines, rep.Entries, rep.Checkpoints, len(ls), len(lines))
	}
}

// TestVerifyHead compares files with the live chain head a device reports.
func TestVerifyHead(t *testing.T) {
	t.Parallel()
	d, finish := openLog(t)
	for i := range 6 {
		if err := d.Log(t.Context(), audit.TypeRequest, testEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	head, err := d.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// A line written after the head was read.
	if err := d.Log(t.Context(), audit.TypeRequest, testEntry(6)); err != nil {
		t.Fatal(err)
	}
	lines := finish()
	other, otherPub, _ := writeLog(t, 3, audit.TypeRequest)
	forged := head
	forged.Seq = 2
	tests := []struct {
		name     string
		lines    [][]byte
		head     audit.Head
		pub      ed25519.PublicKey
		wantKind trail.Kind
		wantErr  bool
	}{
		{name: "whole file", lines: lines, head: head, pub: d.PublicKey()},
		{name: "whole file, no key", lines: lines, head: head},
		{name: "cut short", lines: lines[:5], head: head, pub: d.PublicKey(), wantKind: trail.CutShort},
		{name: "empty", lines: nil, head: head, pub: d.PublicKey(), wantKind: trail.CutShort},
		{name: "another device's file", lines: other, head: head, wantKind: trail.Foreign},
		{name: "head signed by another key", lines: lines, head: head, pub: otherPub, wantErr: true},
		{name: "head altered", lines: lines, head: forged, pub: d.PublicKey(), wantErr: true},
		{name: "head altered, no key", lines: lines, head: forged, wantKind: trail.Edited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep, err := trail.VerifyHead(bytes.NewReader(join(tt.lines)), tt.pub, tt.head)
			if (err != nil) != tt.wantErr {
				t.Fatalf("VerifyHead() error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			switch {
			case tt.wantKind == "" && rep.Problem != nil:
				t.Errorf("VerifyHead() = %v, want no problem", rep.Problems)
			case tt.wantKind != "" && (rep.Problem == nil || rep.Problem.Kind != tt.wantKind):
				t.Errorf("VerifyHead() = %v, want %s", rep.Problems, tt.wantKind)
			}
		})
	}
}

// TestVerifyReadsDeviceLinesInOnePass checks that the lines a device
// writes (requests, responses, errors, checkpoints) are read by the
// verifier's own scanner, not by encoding/json, which is what makes a
// million lines verify in seconds.
func TestVerifyReadsDeviceLinesInOnePass(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{audit.TypeRequest, audit.TypeResponse} {
		lines, _, _ := writeLog(t, 12, typ)
		for i, l := range lines {
			if !trail.FastPath(l) {
				t.Errorf("%s log line %d goes to encoding/json: %s", typ, i+1, l)
			}
		}
	}
}

// TestVerifyLongAndManyLines checks the verifier's read-ahead: lines
// longer than its read buffer and its batches, and more lines than a
// batch holds, verify as any others, and an edit deep in the file is
// still found at its line.
func TestVerifyLongAndManyLines(t *testing.T) {
	t.Parallel()
	d, finish := openLog(t)
	for i := range 600 {
		e := testEntry(i)
		switch i {
		case 3:
			e.Request.Data = json.RawMessage(`{"value":"` + strings.Repeat("x", 100<<10) + `"}`)
		case 550:
			e.Request.Data = json.RawMessage(`{"value":"` + strings.Repeat("y", 3<<19) + `"}`)
		}
		if err := d.Log(t.Context(), audit.TypeRequest, e); err != nil {
			t.Fatal(err)
		}
	}
	lines := finish()
	pub := d.PublicKey()
	rep, err := trail.Verify(bytes.NewReader(join(lines)), pub)
	if err != nil || rep.Problem != nil || rep.Lines != len(lines) || rep.Entries != 600 {
		t.Fatalf("Verify = %d lines, %d entries, problem %v, %v; want %d lines, 600 entries, no problem", rep.Lines, rep.Entries, rep.Problem, err, len(lines))
	}
	for _, n := range []int{688, 701} { // the long line (entry 550), and one after it
		ls := cloneLines(lines)
		ls[n-1] = bytes.Replace(ls[n-1], []byte(`"operation":"`), []byte(`"operation":"x`), 1)
		rep, err := trail.Verify(bytes.NewReader(join(ls)), pub)
		if err != nil || rep.Problem == nil || rep.Problem.Kind != trail.Edited || rep.Problem.Line != n {
			t.Errorf("edit on line %d: problem %v, %v; want an edit on that line", n, rep.Problem, err)
		}
	}
}
