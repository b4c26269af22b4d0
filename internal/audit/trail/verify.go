package trail

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// Kind names what kind of tampering (or damage) a [Problem] is.
type Kind string

// The kinds of problem Verify reports.
const (
	// Malformed: a line is not a valid audit line (a damaged or
	// hand-written line).
	Malformed Kind = "malformed"
	// Truncated: the file ends in the middle of a line.
	Truncated Kind = "truncated"
	// Edited: a line's bytes differ from what was written: the next line's
	// prev_hash does not match it, or its own chain fields are wrong.
	Edited Kind = "edited"
	// Deleted: seq numbers jump; lines are missing before this one.
	Deleted Kind = "deleted"
	// Inserted: a line that does not belong in the chain at this place,
	// such as a copy of another line.
	Inserted Kind = "inserted"
	// Reordered: lines are present but out of order.
	Reordered Kind = "reordered"
	// Foreign: a line from another device's log (another chain).
	Foreign Kind = "foreign"
	// BadCheckpoint: a checkpoint does not match the chain, or its
	// signature does not verify with the given key (forged, or signed by
	// another device).
	BadCheckpoint Kind = "bad-checkpoint"
)

// Problem is the first thing wrong with a log: its kind, the line (from
// 1) it is at and a description with no secret in it.
type Problem struct {
	Kind   Kind
	Line   int
	Detail string
}

// Error returns "line N: kind: detail".
func (p *Problem) Error() string {
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Kind, p.Detail)
}

// Report is the result of [Verify]. Counts cover the lines read, which
// stop at the problem when there is one.
type Report struct {
	// Lines is the number of lines read.
	Lines int
	// Entries counts request and response lines; Checkpoints counts
	// checkpoint lines.
	Entries     int
	Checkpoints int
	// ChainID is the chain the file belongs to.
	ChainID string
	// FirstSeq and LastSeq are the seq of the first and last lines.
	FirstSeq uint64
	LastSeq  uint64
	// Anchored is true when the file starts at the chain's first line. A
	// file that starts later continues an earlier file (after log
	// rotation), or lost its head: Verify cannot tell which.
	Anchored bool
	// SignaturesChecked is true when a public key was given, so every
	// checkpoint's signature was verified.
	SignaturesChecked bool
	// LastCheckpointLine is the line of the last checkpoint, 0 for none.
	LastCheckpointLine int
	// Unchecked counts entries after the last checkpoint: they are chained
	// but not signed, so lines cut from the end of the file after the last
	// checkpoint go unnoticed.
	Unchecked int
	// Problem is the first problem found, nil when the file verifies.
	Problem *Problem
}

// line is one read line with what Verify needs of it.
type line struct {
	n          int
	raw        []byte
	terminated bool
	l          audit.Line
	hash       string
	err        error // why the line is not a valid audit line
}

// Verify reads an audit log and checks that seq numbers follow each other,
// that every prev_hash is the hash of the line before, that every line
// belongs to one chain and that every checkpoint vouches for the chain
// before it. With pub set, it also checks every checkpoint's signature.
// It stops at the first problem and names it in Report.Problem. The error
// is for a failure to read r, or a malformed key.
func Verify(r io.Reader, pub ed25519.PublicKey) (Report, error) {
	if pub != nil && len(pub) != ed25519.PublicKeySize {
		return Report{}, errors.New("audit public key must be an ed25519 public key")
	}
	v := verifier{lr: newLineReader(r), pub: pub}
	v.rep.SignaturesChecked = pub != nil
	if err := v.run(); err != nil {
		return Report{}, err
	}
	return v.rep, nil
}

type verifier struct {
	lr  *lineReader
	pub ed25519.PublicKey
	rep Report

	prev         *line  // the last line checked
	prevPrevHash string // hash of the line before prev
}

func (v *verifier) read() (*line, error) {
	raw, terminated, err := v.lr.next()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	ln := &line{n: v.lr.n, raw: raw, terminated: terminated}
	if errors.Is(err, errLineTooLong) {
		ln.err = err
		return ln, nil
	}
	if err != nil {
		return nil, err
	}
	ln.hash = audit.LineHash(raw)
	ln.err = parseLine(raw, &ln.l)
	return ln, nil
}

func (v *verifier) run() error {
	cur, err := v.read()
	if err != nil {
		return err
	}
	for cur != nil {
		next, err := v.read()
		if err != nil {
			return err
		}
		v.rep.Lines = cur.n
		if p := v.check(cur, next); p != nil {
			v.rep.Problem = p
			return nil
		}
		v.accept(cur)
		cur = next
	}
	return nil
}

// accept counts a line that passed its checks.
func (v *verifier) accept(cur *line) {
	if v.prev == nil {
		v.rep.ChainID = cur.l.ChainID
		v.rep.FirstSeq = cur.l.Seq
		v.rep.Anchored = cur.l.Seq == 1
	} else {
		v.prevPrevHash = v.prev.hash
	}
	v.rep.LastSeq = cur.l.Seq
	if cur.l.Type == audit.TypeCheckpoint {
		v.rep.Checkpoints++
		v.rep.LastCheckpointLine = cur.n
		v.rep.Unchecked = 0
	} else {
		v.rep.Entries++
		v.rep.Unchecked++
	}
	v.prev = cur
}

func problem(k Kind, n int, format string, args ...any) *Problem {
	return &Problem{Kind: k, Line: n, Detail: fmt.Sprintf(format, args...)}
}

// check returns the first problem with cur, given the line after it (nil
// at the end), which helps to tell an edit from an insertion.
func (v *verifier) check(cur, next *line) *Problem {
	if !cur.terminated {
		return problem(Truncated, cur.n, "the file ends in the middle of this line")
	}
	if cur.err != nil {
		return problem(Malformed, cur.n, "%v", cur.err)
	}
	l := &cur.l
	if v.prev == nil {
		if l.Seq == 1 && l.PrevHash != "" {
			return problem(Edited, cur.n, "the chain's first line (seq 1) must have an empty prev_hash")
		}
		if l.Seq != 1 && l.PrevHash == "" {
			return problem(Edited, cur.n, "only seq 1 may have an empty prev_hash, this line has seq %d", l.Seq)
		}
		return v.checkCheckpoint(cur)
	}
	prev := v.prev
	if l.ChainID != prev.l.ChainID {
		return problem(Foreign, cur.n, "line belongs to chain %s, not %s: spliced from another device's log", l.ChainID, prev.l.ChainID)
	}
	nextOK := next != nil && next.err == nil && next.terminated && next.l.ChainID == l.ChainID
	if want := prev.l.Seq + 1; l.Seq != want {
		return v.seqProblem(cur, next, nextOK, want)
	}
	if l.PrevHash != prev.hash {
		switch {
		case nextOK && next.l.Seq == l.Seq+1 && next.l.PrevHash == cur.hash:
			// This line is where it belongs and its successor vouches
			// for it: the line before it changed.
			return problem(Edited, prev.n, "line does not match the prev_hash recorded by line %d", cur.n)
		case next == nil && l.Type == audit.TypeCheckpoint && v.pub != nil && v.checkCheckpoint(cur) == nil:
			return problem(Edited, prev.n, "line does not match the prev_hash recorded by the signed checkpoint at line %d", cur.n)
		case next == nil:
			return problem(Edited, prev.n, "line does not match the prev_hash recorded by line %d (or line %d's prev_hash was changed)", cur.n, cur.n)
		default:
			return problem(Edited, cur.n, "prev_hash does not match line %d, and line %d does not chain to this one: line altered or copied from elsewhere", prev.n, cur.n+1)
		}
	}
	return v.checkCheckpoint(cur)
}

// seqProblem explains a line whose seq is not want.
func (v *verifier) seqProblem(cur, next *line, nextOK bool, want uint64) *Problem {
	l, prev := &cur.l, v.prev
	switch {
	case bytes.Equal(cur.raw, prev.raw):
		return problem(Inserted, cur.n, "line repeats line %d", prev.n)
	case l.PrevHash == prev.hash && (next == nil || nextOK && next.l.Seq == want+1):
		// It chains to the line before it and the next line has the seq
		// after the expected one: the line is in place, its seq changed.
		return problem(Edited, cur.n, "seq %d should be %d", l.Seq, want)
	case l.Seq <= prev.l.Seq && l.PrevHash == v.prevPrevHash && v.prevPrevHash != "":
		// This line chains to the line before prev, so prev was slipped
		// in between them.
		return problem(Inserted, prev.n, "line %d repeats seq %d and chains to the line before this one", cur.n, l.Seq)
	case nextOK && next.l.Seq == want && l.Seq > want:
		return problem(Reordered, cur.n, "seq %d comes before seq %d on line %d", l.Seq, want, cur.n+1)
	case nextOK && next.l.Seq == want:
		return problem(Inserted, cur.n, "seq %d does not belong between seq %d and seq %d", l.Seq, prev.l.Seq, want)
	case l.Seq > want:
		return problem(Deleted, cur.n, "seq jumps from %d to %d: %d line(s) missing before this line", prev.l.Seq, l.Seq, l.Seq-want)
	default:
		return problem(Reordered, cur.n, "seq goes back from %d to %d", prev.l.Seq, l.Seq)
	}
}

// checkCheckpoint checks a checkpoint's hash and, with a key, signature.
func (v *verifier) checkCheckpoint(cur *line) *Problem {
	l := &cur.l
	if l.Type != audit.TypeCheckpoint {
		return nil
	}
	if l.Hash != l.PrevHash {
		return problem(BadCheckpoint, cur.n, "checkpoint hash differs from its prev_hash")
	}
	if v.pub == nil {
		return nil
	}
	sig, _ := hex.DecodeString(l.Signature)
	if !ed25519.Verify(v.pub, audit.CheckpointMessage(l.ChainID, l.Seq, l.Hash, l.Time), sig) {
		return problem(BadCheckpoint, cur.n, "signature does not verify with this key: forged, altered or signed by another device")
	}
	return nil
}

// parseLine decodes raw into l and checks the chain fields' formats.
func parseLine(raw []byte, l *audit.Line) error {
	if err := json.Unmarshal(raw, l); err != nil {
		return errors.New("not a JSON audit line")
	}
	switch l.Type {
	case audit.TypeRequest, audit.TypeResponse, audit.TypeCheckpoint:
	default:
		return fmt.Errorf("unknown type %q", l.Type)
	}
	if l.Seq == 0 {
		return errors.New("missing seq")
	}
	if !isHex(l.ChainID, 16) {
		return errors.New("missing or malformed chain_id")
	}
	if l.PrevHash != "" && !isHex(l.PrevHash, 64) {
		return errors.New("malformed prev_hash")
	}
	if _, err := time.Parse(time.RFC3339Nano, l.Time); err != nil {
		return errors.New("missing or malformed time")
	}
	if l.Type == audit.TypeCheckpoint {
		if !isHex(l.Hash, 64) {
			return errors.New("checkpoint with a missing or malformed hash")
		}
		if !isHex(l.Signature, 2*ed25519.SignatureSize) {
			return errors.New("checkpoint with a missing or malformed signature")
		}
	}
	return nil
}

// isHex reports whether s is n lowercase hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
