package trail_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-secrets/coffer/internal/audit"
	"github.com/coffer-secrets/coffer/internal/audit/trail"
)

// captureSink is a witness that keeps the lines it is sent.
type captureSink struct {
	mu    sync.Mutex
	lines [][]byte
}

func (c *captureSink) Type() string { return "capture" }
func (c *captureSink) Write(_ context.Context, line []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, bytes.Clone(line))
	return nil
}
func (c *captureSink) Reload() error { return nil }
func (c *captureSink) Close() error  { return nil }

// witnessedLog writes tamperEntries entries through a file device with a
// witness, and returns the file's lines, what the witness received and
// the device's public key.
func witnessedLog(t *testing.T) ([][]byte, []byte, []byte) {
	t.Helper()
	path := t.TempDir() + "/audit.log"
	f, err := audit.OpenFile(audit.FileOptions{Path: path, AllowAnyDir: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := audit.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	w := &captureSink{}
	d, err := audit.NewDevice(audit.DeviceOptions{Path: "file/", Sink: f, Witness: w, Keys: keys, CheckpointEvery: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range tamperEntries {
		if err := d.Log(t.Context(), audit.TypeRequest, testEntry(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	return lines, bytes.Join(w.lines, nil), d.PublicKey()
}

// TestVerifyWitness checks that a file cut short after a checkpoint its
// witness received is reported as cut short, whatever the witness put
// before each line, and that an intact or rotated file passes.
func TestVerifyWitness(t *testing.T) {
	t.Parallel()
	// Checkpoints at seq 5, 10 and 13 (see tamperEntries).
	lines, captured, pub := witnessedLog(t)
	if n := bytes.Count(captured, []byte("\n")); n != 3 {
		t.Fatalf("the witness received %d lines, want 3 checkpoints:\n%s", n, captured)
	}
	syslogged := []byte("Dec  7 16:00:00 host coffer-audit: " + strings.ReplaceAll(strings.TrimSuffix(string(captured), "\n"), "\n", "\nDec  7 16:00:01 host coffer-audit: ") + "\nDec  7 16:00:02 host sshd[1]: unrelated\n")
	tests := []struct {
		name     string
		file     [][]byte
		witness  []byte
		wantKind trail.Kind // "" for none
		wantLine int
	}{
		{"intact", lines, captured, "", 0},
		{"intact, syslog witness", lines, syslogged, "", 0},
		{"cut before the last checkpoint", lines[:12], captured, trail.CutShort, 13},
		{"cut at a checkpoint", lines[:10], captured, trail.CutShort, 11},
		{"cut short, syslog witness", lines[:7], syslogged, trail.CutShort, 8},
		{"empty", nil, captured, trail.CutShort, 1},
		{"rotated: starts after a checkpoint", lines[5:], captured, "", 0},
		{"checkpoint line dropped", append(cloneLines(lines[:9]), lines[10:]...), captured, trail.Deleted, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := trail.ReadWitness(bytes.NewReader(tt.witness))
			if err != nil {
				t.Fatalf("ReadWitness: %v", err)
			}
			if len(ws) != 3 {
				t.Fatalf("ReadWitness found %d checkpoints, want 3", len(ws))
			}
			for _, key := range [][]byte{pub, nil} {
				rep, err := trail.VerifyWith(bytes.NewReader(join(tt.file)), trail.Options{PublicKey: key, Witness: ws})
				if err != nil {
					t.Fatalf("VerifyWith: %v", err)
				}
				switch {
				case tt.wantKind == "" && rep.Problem != nil:
					t.Errorf("VerifyWith (key %v) = %v, want no problem", key != nil, rep.Problem)
				case tt.wantKind != "" && (rep.Problem == nil || rep.Problem.Kind != tt.wantKind || rep.Problem.Line != tt.wantLine):
					t.Errorf("VerifyWith (key %v) = %v, want %s at line %d", key != nil, rep.Problem, tt.wantKind, tt.wantLine)
				}
			}
			// Without the witness, a file cut at its end passes.
			if rep, err := trail.Verify(bytes.NewReader(join(tt.file)), pub); err != nil || (tt.wantKind == trail.CutShort && rep.Problem != nil) {
				t.Errorf("Verify without the witness = %v, %v; want no problem", rep.Problem, err)
			}
		})
	}
}

// TestVerifyWitnessForged checks that a witness line whose signature does
// not verify is an error with the key, and that a damaged witness file is
// refused.
func TestVerifyWitnessForged(t *testing.T) {
	t.Parallel()
	lines, captured, pub := witnessedLog(t)
	ws, err := trail.ReadWitness(bytes.NewReader(captured))
	if err != nil {
		t.Fatal(err)
	}
	ws[1].Line.Seq = 11
	if _, err := trail.VerifyWith(bytes.NewReader(join(lines)), trail.Options{PublicKey: pub, Witness: ws}); err == nil || !strings.Contains(err.Error(), "witness line 2") {
		t.Errorf("VerifyWith(forged witness) = %v, want an error naming witness line 2", err)
	}
	if _, err := trail.ReadWitness(strings.NewReader("ok\n{\"seq\":1,\"chain_id\":\"zz\"}\n")); err == nil || !strings.Contains(err.Error(), "witness line 2") {
		t.Errorf("ReadWitness(damaged) = %v, want an error naming line 2", err)
	}
}

// FuzzReadWitness feeds ReadWitness arbitrary witness files: it must not
// panic, and what it returns must be checkpoints, in file order.
func FuzzReadWitness(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("junk\n{\"seq\":1}\n"))
	f.Add([]byte(`<37>coffer-audit: {"seq":5,"chain_id":"0123456789abcdef","prev_hash":"` + strings.Repeat("a", 64) + `","type":"checkpoint","time":"2025-03-01T12:00:00Z","hash":"` + strings.Repeat("a", 64) + `","signature":"` + strings.Repeat("b", 128) + `"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, err := trail.ReadWitness(bytes.NewReader(data))
		if err != nil {
			return
		}
		last := 0
		for _, w := range ws {
			if w.Line.Type != audit.TypeCheckpoint || w.N <= last || len(w.Hash) != 64 {
				t.Fatalf("ReadWitness(%q) returned %+v", data, w)
			}
			last = w.N
		}
	})
}
