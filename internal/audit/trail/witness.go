package trail

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// Witnessed is one checkpoint a device's witness received.
type Witnessed struct {
	// N is its line in the witness file.
	N int
	// Line is the checkpoint; Hash is the hex SHA-256 of its exact bytes,
	// the hash of the same line in the audit file.
	Line audit.Line
	Hash string

	found bool // the audit file holds it; set by Verify
}

// witnessKey finds a witnessed checkpoint by chain and seq.
type witnessKey struct {
	chainID string
	seq     uint64
}

// witnessMarker starts every chain line, after whatever prefix the witness
// put before it (a syslog header).
var witnessMarker = []byte(`{"seq":`)

// ReadWitness reads the checkpoints a witness captured: one per line, as
// the device sent it or after a prefix such as a syslog header. Lines with
// no chain line in them are skipped, and so are chain lines that are not
// checkpoints. A chain line that is not valid, or a line longer than a
// checkpoint can be, is an error naming its line: a witness file is
// evidence, and a damaged one should be looked at.
func ReadWitness(r io.Reader) ([]Witnessed, error) {
	lr := newLineReader(r)
	var out []Witnessed
	schema := lineSchema()
	for {
		raw, _, err := lr.next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("witness line %d: %w", lr.n, err)
		}
		i := bytes.Index(raw, witnessMarker)
		if i < 0 {
			continue
		}
		raw = bytes.TrimRight(raw[i:], "\r")
		var l audit.Line
		if err := parseLine(schema, raw, &l); err != nil {
			return nil, fmt.Errorf("witness line %d: %v", lr.n, err)
		}
		if l.Type != audit.TypeCheckpoint {
			continue
		}
		out = append(out, Witnessed{N: lr.n, Line: l, Hash: audit.LineHash(raw)})
	}
}

// checkWitness reports a file that ends before the last checkpoint its
// witness received for the file's chain, or that lacks a witnessed
// checkpoint it should hold.
func (v *verifier) checkWitness() {
	var last *Witnessed
	for _, w := range v.witness {
		if v.rep.Lines > 0 && w.Line.ChainID != v.rep.ChainID {
			continue
		}
		if v.rep.Lines > 0 {
			v.rep.Witnessed++
			v.rep.WitnessLastSeq = max(v.rep.WitnessLastSeq, w.Line.Seq)
		}
		if last == nil || w.Line.Seq > last.Line.Seq {
			last = w
		}
	}
	switch {
	case last == nil:
	case v.rep.Lines == 0:
		v.report(problem(CutShort, 1, "the file is empty; its witness received a checkpoint at seq %d (witness line %d)", last.Line.Seq, last.N))
	case last.Line.Seq > v.rep.LastSeq:
		v.report(problem(CutShort, v.rep.Lines+1, "the file ends at seq %d; its witness received a checkpoint at seq %d (witness line %d): at least %d line(s) missing from the end", v.rep.LastSeq, last.Line.Seq, last.N, last.Line.Seq-v.rep.LastSeq))
	case v.rep.ProblemCount == 0:
		// Every witnessed checkpoint from the file's first line on must
		// be in it; earlier ones belong to files rotated away. (With
		// other problems, they already say where the chain broke.)
		var missing *Witnessed
		for _, w := range v.witness {
			if w.Line.ChainID == v.rep.ChainID && w.Line.Seq >= v.rep.FirstSeq && !w.found && (missing == nil || w.Line.Seq < missing.Line.Seq) {
				missing = w
			}
		}
		if missing != nil {
			v.report(problem(Deleted, v.rep.Lines, "the file does not hold seq %d, a checkpoint its witness received (witness line %d)", missing.Line.Seq, missing.N))
		}
	}
}
