package trail

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
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
	// CutShort: the file ends before the live chain head its device
	// reported ([VerifyHead]), or before a checkpoint its witness received
	// ([Options].Witness): lines were cut from its end.
	CutShort Kind = "cut-short"
	// TornWrite: a line starts with the remains of a write cut off (a
	// full disk, a crash) that no device repaired, and an intact line
	// follows them on the same line. Damage, not tampering, as far as
	// the intact line shows.
	TornWrite Kind = "torn-write"
)

// Tampering reports whether a problem of kind k points at tampering
// rather than at damage a crash or a full disk leaves (a torn or cut-off
// line).
func (k Kind) Tampering() bool { return k != TornWrite && k != Truncated }

// Problem is one thing wrong with a log: its kind, the line (from
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

// Recovery is a torn write a device repaired and recorded in its own
// chain (a torn_write line): a write failed part way, and the device cut
// the file back to its last complete line before writing on.
type Recovery struct {
	// Line is the torn_write line's number; Seq its seq.
	Line int
	Seq  uint64
	// Offset is where the file was cut back to, CutBytes how many bytes
	// of failed writes were removed, FailedWrites how many writes failed,
	// Error the first failure.
	Offset       int64
	CutBytes     int64
	FailedWrites int64
	Error        string
}

// Report is the result of [Verify]. Counts cover every line of the file.
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
	// Problem is the first problem found, nil when the file verifies;
	// Problems lists the first [MaxProblems] problems found, in file
	// order, and ProblemCount counts them all. Tampering is true when
	// any of them, listed or not, points at tampering ([Kind.Tampering]).
	Problem      *Problem
	Problems     []Problem
	ProblemCount int
	Tampering    bool
	// Recovered lists the torn writes devices recorded; they are not
	// problems.
	Recovered []Recovery
	// Witnessed counts the witness's checkpoints of this file's chain
	// ([Options].Witness); WitnessLastSeq is the highest seq among them.
	Witnessed      int
	WitnessLastSeq uint64
}

// MaxProblems bounds the problems a [Report] lists: a file of garbage
// would otherwise cost memory for each of its lines. Problems past it are
// counted (Report.ProblemCount), not kept.
const MaxProblems = 1000

// ctxCheckLines is how often (in lines) verify and search look whether
// their context was cancelled.
const ctxCheckLines = 1024

// line is one read line with what Verify needs of it.
type line struct {
	n          int
	raw        []byte
	terminated bool
	l          audit.Line
	hash       string
	err        error // why the line is not a valid audit line
	tornBytes  int   // bytes of a cut-off write before the line, by salvage
}

// Verify reads an audit log and checks that seq numbers follow each other,
// that every prev_hash is the hash of the line before, that every line
// belongs to one chain and that every checkpoint vouches for the chain
// before it. With pub set, it also checks every checkpoint's signature.
// It reports every problem it finds (Report.Problems, the first also in
// Report.Problem), resuming the chain after each one, and lists the torn
// writes a device recorded in Report.Recovered. The error
// is for a failure to read r, or a malformed key.
func Verify(r io.Reader, pub ed25519.PublicKey) (Report, error) {
	return VerifyWith(r, Options{PublicKey: pub})
}

// Options are what [VerifyWith] compares a file with besides itself.
type Options struct {
	// PublicKey, when set, checks every checkpoint's signature, and the
	// head's and the witness's.
	PublicKey ed25519.PublicKey
	// Head, when set, is the live chain head the device reported, as for
	// [VerifyHead].
	Head *audit.Head
	// Witness are the checkpoints the device's witness received (see
	// [ReadWitness]). The file must hold each of its chain's checkpoints
	// from its first line on, byte for byte, and reach the last: a file
	// that ends before it was cut short.
	Witness []Witnessed
	// Context, when set, ends the verification with its error once it is
	// done (checked every few hundred lines).
	Context context.Context
}

// VerifyWith is [Verify] with the comparisons o asks for: with o.Head it
// is [VerifyHead]; with o.Witness, a witnessed checkpoint the file lacks
// or holds altered is a problem. With o.PublicKey set, a head or a
// witnessed checkpoint whose signature does not verify is an error.
func VerifyWith(r io.Reader, o Options) (Report, error) {
	pub := o.PublicKey
	if pub != nil && len(pub) != ed25519.PublicKeySize {
		return Report{}, errors.New("audit public key must be an ed25519 public key")
	}
	if pub != nil && o.Head != nil {
		h := o.Head
		sig, _ := hex.DecodeString(h.Signature)
		if !ed25519.Verify(pub, audit.HeadMessage(h.ChainID, h.Seq, h.Hash, h.Time), sig) {
			return Report{}, errors.New("the chain head's signature does not verify with this key")
		}
	}
	v := verifier{pub: pub, schema: lineSchema(), head: o.Head, ctx: o.Context}
	if len(o.Witness) > 0 {
		v.witness = map[witnessKey]*Witnessed{}
		ws := slices.Clone(o.Witness) // found is set on these
		for i := range ws {
			w := &ws[i]
			if pub != nil {
				sig, _ := hex.DecodeString(w.Line.Signature)
				if !ed25519.Verify(pub, audit.CheckpointMessage(w.Line.ChainID, w.Line.Seq, w.Line.Hash, w.Line.Time), sig) {
					return Report{}, fmt.Errorf("witness line %d: the checkpoint's signature does not verify with this key", w.N)
				}
			}
			v.witness[witnessKey{w.Line.ChainID, w.Line.Seq}] = w
		}
	}
	v.rep.SignaturesChecked = pub != nil
	v.pf = newPrefetcher(newLineReader(r), v.schema)
	err := v.run()
	v.pf.close()
	if err != nil {
		return Report{}, err
	}
	if v.head != nil {
		v.checkHead()
	}
	if v.witness != nil {
		v.checkWitness()
	}
	return v.rep, nil
}

// VerifyHead is [Verify], and also compares the file with head, the live
// chain head its device reported (sys/audit/NAME/head) after the file's
// last line was written: the file must hold the line at head's seq, with
// head's hash, or it was cut short (or edited there). With pub set, head's
// signature must verify, or VerifyHead returns an error. Lines after the
// head (written since) are checked as any others.
func VerifyHead(r io.Reader, pub ed25519.PublicKey, head audit.Head) (Report, error) {
	return VerifyWith(r, Options{PublicKey: pub, Head: &head})
}

// checkHead reports a file that does not reach the head it was given.
func (v *verifier) checkHead() {
	h := v.head
	switch {
	case h.Seq == 0 || v.headLine > 0:
	case v.rep.Lines == 0:
		v.report(problem(CutShort, 1, "the file is empty; the device has written up to seq %d", h.Seq))
	case v.rep.ChainID != h.ChainID:
		v.report(problem(Foreign, v.rep.Lines, "the file belongs to chain %s; the device writes chain %s", v.rep.ChainID, h.ChainID))
	case v.rep.LastSeq < h.Seq:
		v.report(problem(CutShort, v.rep.Lines+1, "the file ends at seq %d; the device has written up to seq %d: %d line(s) missing from the end", v.rep.LastSeq, h.Seq, h.Seq-v.rep.LastSeq))
	default:
		v.report(problem(Deleted, v.rep.Lines, "the file does not hold seq %d, the device's chain head", h.Seq))
	}
}

type verifier struct {
	pf     *prefetcher // lines, hashed and parsed
	pub    ed25519.PublicKey
	schema []schemaField // lineSchema(), for parseLine
	rep    Report

	prev         *line  // the last line checked
	prevPrevHash string // hash of the line before prev
	resync       bool   // the line before was unreadable

	head     *audit.Head // the live chain head to compare with, or nil
	headLine int         // the line found at head's seq

	witness map[witnessKey]*Witnessed // witnessed checkpoints, or nil

	ctx             context.Context // Options.Context, or nil
	lastProblemLine int             // line of the last problem reported
}

func (v *verifier) read() (*line, error) {
	return v.pf.next()
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
		if v.ctx != nil && cur.n%ctxCheckLines == 0 {
			if err := v.ctx.Err(); err != nil {
				return err
			}
		}
		if cur.err != nil && cur.terminated {
			v.salvage(cur)
		}
		p := v.check(cur, next)
		if p == nil {
			v.accept(cur)
			cur = next
			continue
		}
		v.report(p)
		switch {
		case cur.err != nil || !cur.terminated:
			// Unreadable: the next good line continues the chain.
			v.resync = true
		case p.Line == cur.n && (p.Kind == Inserted || p.Kind == Foreign):
			// The line does not belong: the chain goes on without it.
		case p.Kind == Edited && p.Line == cur.n && v.prev != nil && cur.l.Seq != v.prev.l.Seq+1:
			// Its seq was changed: resume from the seq it had.
			cur.l.Seq = v.prev.l.Seq + 1
			v.accept(cur)
		default:
			// Resume the chain from this line.
			v.accept(cur)
		}
		cur = next
	}
	return nil
}

// report records p, unless a problem was already reported on its line
// (one change often breaks two checks).
func (v *verifier) report(p *Problem) {
	if v.rep.ProblemCount > 0 && v.lastProblemLine == p.Line {
		return
	}
	v.lastProblemLine = p.Line
	v.rep.ProblemCount++
	v.rep.Tampering = v.rep.Tampering || p.Kind.Tampering()
	if len(v.rep.Problems) >= MaxProblems {
		return
	}
	v.rep.Problems = append(v.rep.Problems, *p)
	if v.rep.Problem == nil {
		v.rep.Problem = &v.rep.Problems[0]
	}
}

// salvage looks, in a line that is not a valid audit line, for an intact
// audit line after the remains of a cut-off write (the next line appended
// to a torn one). When it finds one, cur becomes that line, marked torn.
func (v *verifier) salvage(cur *line) {
	i := bytes.LastIndex(cur.raw, []byte(`{"seq":`))
	if i <= 0 {
		return
	}
	var l audit.Line
	if parseLine(v.schema, cur.raw[i:], &l) != nil {
		return
	}
	cur.tornBytes = i
	cur.raw = cur.raw[i:]
	cur.hash = audit.LineHash(cur.raw)
	cur.l, cur.err = l, nil
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
	v.resync = false
	if h := v.head; h != nil && v.headLine == 0 && cur.l.ChainID == h.ChainID && cur.l.Seq == h.Seq {
		v.headLine = cur.n
		if cur.hash != h.Hash {
			v.report(problem(Edited, cur.n, "line differs from the chain head the device reported for seq %d", h.Seq))
		}
	}
	if w := v.witness[witnessKey{cur.l.ChainID, cur.l.Seq}]; w != nil {
		w.found = true
		if cur.hash != w.Hash {
			v.report(problem(Edited, cur.n, "line differs from the checkpoint its witness received for seq %d (witness line %d)", cur.l.Seq, w.N))
		}
	}
	v.rep.LastSeq = cur.l.Seq
	if cur.l.Type == audit.TypeTornWrite {
		v.rep.Recovered = append(v.rep.Recovered, Recovery{Line: cur.n, Seq: cur.l.Seq, Offset: cur.l.Offset, CutBytes: cur.l.CutBytes, FailedWrites: cur.l.FailedWrites, Error: cur.l.Error})
	}
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
		if v.prev != nil && bytes.HasPrefix(cur.raw, []byte(`{"seq":`)) && next != nil && next.err == nil &&
			next.l.ChainID == v.prev.l.ChainID && next.l.Seq == v.prev.l.Seq+1 && next.l.PrevHash == v.prev.hash {
			// The chain goes on from the line before as if this one were
			// not there: a write cut off and never completed.
			return problem(TornWrite, cur.n, "%d bytes of a cut-off write (a crash or a full disk) that no device repaired; the chain continues intact after them", len(cur.raw))
		}
		return problem(Malformed, cur.n, "%v", cur.err)
	}
	if cur.tornBytes > 0 {
		p := v.checkLink(cur, next)
		if p != nil && p.Line == cur.n && p.Kind != Deleted {
			// What follows the torn bytes does not fit the chain either.
			return p
		}
		if p != nil {
			v.report(p)
		}
		return problem(TornWrite, cur.n, "the line starts with %d bytes of a cut-off write that no device repaired; the line after them is intact", cur.tornBytes)
	}
	return v.checkLink(cur, next)
}

// checkLink checks how cur, a valid line, fits the chain.
func (v *verifier) checkLink(cur, next *line) *Problem {
	l := &cur.l
	if v.resync && v.prev != nil && l.ChainID == v.prev.l.ChainID {
		// The line before could not be read: only the seq can be checked.
		if want := v.prev.l.Seq + 1; l.Seq > want+1 {
			return problem(Deleted, cur.n, "seq jumps from %d to %d after an unreadable line", v.prev.l.Seq, l.Seq)
		}
		return v.checkCheckpoint(cur)
	}
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

// parseLine decodes the chain fields of raw into l and checks their
// formats. schema is [lineSchema]'s: scanLine reads the usual lines, and
// encoding/json the others, so that both give the same verdicts. Only the
// chain fields are filled in.
func parseLine(schema []schemaField, raw []byte, l *audit.Line) error {
	if !scanLine(schema, raw, l) {
		var full audit.Line
		if err := json.Unmarshal(raw, &full); err != nil {
			return errors.New("not a JSON audit line")
		}
		*l = chainFields(&full)
	}
	switch l.Type {
	case audit.TypeRequest, audit.TypeResponse, audit.TypeCheckpoint, audit.TypeTornWrite, audit.TypeForward:
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

// chainFields returns the fields of l that parseLine fills in.
func chainFields(l *audit.Line) audit.Line {
	return audit.Line{
		Seq: l.Seq, ChainID: l.ChainID, PrevHash: l.PrevHash, Type: l.Type, Time: l.Time,
		Error: l.Error, Hash: l.Hash, Signature: l.Signature,
		Offset: l.Offset, CutBytes: l.CutBytes, FailedWrites: l.FailedWrites,
	}
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
