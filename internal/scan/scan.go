// Package scan finds secrets in code, history and manifests: values that
// are live secrets stored in Coffer (asked of the server by SHA-256 digest,
// see package live) and credentials of well-known formats (package format).
// It reads a [source.Source], runs the detectors over every blob in worker
// goroutines, and returns [report.Finding] values, which never hold a
// secret.
//
// Memory is bounded per blob: content is read in chunks of
// [Options.ChunkSize] cut at line ends, binary blobs (a NUL byte in the
// first 8,000 bytes, as git decides) are skipped, and files larger than
// [Options.MaxFileSize] are skipped with a note.
//
// The subpackages do one job each: extract (candidate values), manifest
// (Kubernetes Secret values), source (files, history, index, stdin),
// format (the gitleaks rules), live (the sys/leaks/check client and
// batching) and report (output and baselines). [Scan] keeps no state
// between calls and may run concurrently with itself.
package scan

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/coffer-secrets/coffer/internal/scan/extract"
	"github.com/coffer-secrets/coffer/internal/scan/format"
	"github.com/coffer-secrets/coffer/internal/scan/live"
	"github.com/coffer-secrets/coffer/internal/scan/manifest"
	"github.com/coffer-secrets/coffer/internal/scan/report"
	"github.com/coffer-secrets/coffer/internal/scan/source"
)

// Options configure a scan. At least one of Rules and Checker must be set.
type Options struct {
	// Rules enables the known-format detector; nil turns it off.
	Rules *format.Rules
	// Checker enables the live-secret detector; nil turns it off
	// (-offline).
	Checker live.Checker
	// Workers is the number of blobs scanned at once (default GOMAXPROCS).
	Workers int
	// ChunkSize is the most bytes of one blob held at once (default 4 MiB).
	ChunkSize int
	// MaxFileSize skips blobs of known size above it (default 256 MiB).
	MaxFileSize int64
	// Note receives notes about skipped content (may be nil).
	Note func(string)
}

// Result is what a scan found and read.
type Result struct {
	// Findings are sorted by file and line, without duplicates.
	Findings []report.Finding
	// Blobs and Bytes count the blobs and bytes read; Skipped the blobs
	// skipped as binary or too large.
	Blobs, Bytes, Skipped int64
	// Checked is the number of distinct candidates sent to the server.
	Checked int
}

// place is where a candidate was seen.
type place struct {
	file, commit string
	line         int
	redacted     string
}

// candidate is a hashed candidate value and its place.
type candidate struct {
	digest live.Digest
	place  place
}

// chunkResult is what a worker found in one chunk.
type chunkResult struct {
	findings   []report.Finding
	candidates []candidate
	bytes      int64
	blobs      int64
	skipped    int64
}

// Scan runs the detectors over every blob of src.
func Scan(ctx context.Context, src source.Source, o Options) (Result, error) {
	if o.Rules == nil && o.Checker == nil {
		return Result{}, errors.New("scan: no detector")
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 4 << 20
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 256 << 20
	}
	if o.Note == nil {
		o.Note = func(string) {}
	}
	g, ctx := errgroup.WithContext(ctx)
	blobs := make(chan source.Blob, o.Workers)
	results := make(chan chunkResult, o.Workers*2)
	g.Go(func() error {
		defer close(blobs)
		return src.Each(ctx, func(b source.Blob) error {
			select {
			case blobs <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	workers, wctx := errgroup.WithContext(ctx)
	for range o.Workers {
		workers.Go(func() error {
			w := worker{o: o, out: results}
			if o.Rules != nil {
				w.det = o.Rules.Detector()
			}
			for b := range blobs {
				if err := w.blob(wctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(results)
		return workers.Wait()
	})

	var res Result
	seen := map[string]struct{}{}
	add := func(f report.Finding) {
		f.ComputeFingerprint()
		if _, ok := seen[f.Fingerprint]; ok {
			return
		}
		seen[f.Fingerprint] = struct{}{}
		res.Findings = append(res.Findings, f)
	}
	var batcher *live.Batcher[place]
	if o.Checker != nil {
		batcher = live.NewBatcher(o.Checker, func(p place, m live.Match) { add(liveFinding(p, m)) })
	}
	g.Go(func() error {
		for r := range results {
			res.Bytes += r.bytes
			res.Blobs += r.blobs
			res.Skipped += r.skipped
			for _, f := range r.findings {
				add(f)
			}
			if batcher == nil {
				continue
			}
			for _, c := range r.candidates {
				if err := batcher.AddDigest(ctx, c.digest, c.place); err != nil {
					return err
				}
			}
		}
		if batcher != nil {
			if err := batcher.Flush(ctx); err != nil {
				return err
			}
			res.Checked = batcher.Sent()
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return Result{}, err
	}
	report.Sort(res.Findings)
	return res, nil
}

// liveFinding is the finding for a live secret at p.
func liveFinding(p place, m live.Match) report.Finding {
	f := report.Finding{
		Detector: report.DetectorLive,
		File:     p.file,
		Line:     p.line,
		Commit:   p.commit,
		Redacted: p.redacted,
		Live:     &report.Live{Readable: m.Readable},
	}
	switch {
	case !m.Readable:
		f.RuleID = report.RuleLiveUnreadable
	case m.Current:
		f.RuleID = report.RuleLiveCurrent
	default:
		f.RuleID = report.RuleLiveOld
	}
	if m.Readable {
		f.Live.Kind, f.Live.Mount, f.Live.Path, f.Live.Key = m.Kind, m.Mount, m.Path, m.Key
		f.Live.Version, f.Live.Current = m.Version, m.Current
	}
	f.Description = f.Detail()
	return f
}

// worker scans blobs; each worker has its own format detector.
type worker struct {
	o   Options
	det *format.Detector
	out chan<- chunkResult
	// buf is the chunk buffer, reused from blob to blob.
	buf []byte
}

// blob scans one blob chunk by chunk.
func (w *worker) blob(ctx context.Context, b source.Blob) error {
	if b.Size > w.o.MaxFileSize {
		w.o.Note(fmt.Sprintf("skipped %s: %d bytes, over the limit of %d", b.Path, b.Size, w.o.MaxFileSize))
		return w.send(ctx, chunkResult{skipped: 1})
	}
	rc, err := b.Open()
	if err != nil {
		return fmt.Errorf("open %s: %w", b.Path, err)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	if w.buf == nil {
		w.buf = make([]byte, w.o.ChunkSize)
	}
	buf := w.buf
	n, carry, lineBase := 0, 0, 0
	first := true
	for {
		m, err := io.ReadFull(r, buf[carry:])
		n = carry + m
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return fmt.Errorf("read %s: %w", b.Path, err)
		}
		if first {
			first = false
			if bytes.IndexByte(buf[:min(n, 8000)], 0) >= 0 {
				return w.send(ctx, chunkResult{skipped: 1})
			}
		}
		chunk := buf[:n]
		carry = 0
		if !eof {
			// Cut at the last line end; a chunk with none is cut where it
			// is full.
			if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
				carry = n - (i + 1)
				chunk = chunk[:i+1]
			}
		}
		res := w.chunk(b, chunk, lineBase, eof && lineBase == 0)
		res.bytes = int64(len(chunk))
		if eof {
			res.blobs = 1
		}
		if err := w.send(ctx, res); err != nil {
			return err
		}
		if eof {
			return nil
		}
		lineBase += bytes.Count(chunk, []byte{'\n'})
		copy(buf, buf[len(chunk):n])
		n = carry
	}
}

func (w *worker) send(ctx context.Context, r chunkResult) error {
	select {
	case w.out <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chunk runs the detectors over one chunk whose first line is line
// lineBase+1. whole says the chunk is the whole blob (manifests are read
// only then).
func (w *worker) chunk(b source.Blob, chunk []byte, lineBase int, whole bool) chunkResult {
	var res chunkResult
	if w.det != nil {
		// gitleaks works per fragment and its cost grows with fragment
		// size times matches (it counts lines from the start for each
		// match), so it gets the chunk in pieces of about formatPiece
		// bytes cut at line ends, as its own file reader does.
		for piece, line := range pieces(chunk, formatPiece) {
			for _, m := range w.det.Find(b.Path, string(piece)) {
				res.findings = append(res.findings, formatFinding(b, m, lineBase+line+m.Line))
			}
		}
	}
	if w.o.Checker != nil {
		add := func(v []byte, line int) {
			res.candidates = append(res.candidates, candidate{
				digest: liveDigest(v),
				place:  place{file: b.Path, commit: b.Commit, line: lineBase + line, redacted: redact(v)},
			})
		}
		extract.Each(chunk, add)
		// PEM blocks and whole small files: values stored whole in Coffer
		// that no single line holds.
		extract.Blocks(chunk, whole, add)
	}
	if whole && isManifest(b.Path, chunk) {
		w.manifest(b, chunk, &res)
	}
	return res
}

// formatPiece is the size of the fragments the format detector sees.
const formatPiece = 1 << 10

// pieces yields consecutive parts of chunk of about size bytes, cut after
// a line end where there is one, with the number of lines before each.
func pieces(chunk []byte, size int) iter.Seq2[[]byte, int] {
	return func(yield func([]byte, int) bool) {
		lines := 0
		for len(chunk) > 0 {
			n := len(chunk)
			if n > size {
				n = size
				if i := bytes.IndexByte(chunk[size:], '\n'); i >= 0 && i < size {
					n = size + i + 1
				}
			}
			if !yield(chunk[:n], lines) {
				return
			}
			lines += bytes.Count(chunk[:n], []byte{'\n'})
			chunk = chunk[n:]
		}
	}
}

// manifest adds what the decoded values of Kubernetes Secrets hold.
func (w *worker) manifest(b source.Blob, chunk []byte, res *chunkResult) {
	vals, _ := manifest.Secrets(chunk) // not a manifest: the text scan above did the work
	for _, v := range vals {
		if v.Problem != "" {
			// The raw text was scanned above; only the decoded value is
			// missing. Key names are no secrets.
			w.o.Note(fmt.Sprintf("%s:%d: key %s of Secret %s: %s; its decoded value was not scanned", b.Path, v.Line, v.Key, v.Name, v.Problem))
			continue
		}
		if w.det != nil && !v.StringData {
			for _, m := range w.det.Find(b.Path, string(v.Value)) {
				res.findings = append(res.findings, formatFinding(b, m, v.Line))
			}
		}
		if w.o.Checker == nil {
			continue
		}
		pl := place{file: b.Path, commit: b.Commit, line: v.Line}
		if len(v.Value) >= extract.MinLength {
			pl.redacted = redact(v.Value)
			res.candidates = append(res.candidates, candidate{digest: liveDigest(v.Value), place: pl})
		}
		extract.Each(v.Value, func(c []byte, _ int) {
			p := pl
			p.redacted = redact(c)
			res.candidates = append(res.candidates, candidate{digest: liveDigest(c), place: p})
		})
	}
}

// isManifest guesses whether a blob may hold Kubernetes objects.
func isManifest(path string, chunk []byte) bool {
	switch {
	case strings.HasSuffix(path, ".yaml"), strings.HasSuffix(path, ".yml"), strings.HasSuffix(path, ".json"), path == "-":
		return bytes.Contains(chunk, []byte("kind")) && bytes.Contains(chunk, []byte("Secret"))
	}
	return false
}

func formatFinding(b source.Blob, m format.Match, line int) report.Finding {
	return report.Finding{
		Detector:    report.DetectorFormat,
		RuleID:      m.RuleID,
		Description: m.Description,
		File:        b.Path,
		Line:        line,
		Commit:      b.Commit,
		Redacted:    report.Redact(m.Secret),
	}
}

// liveDigest is the digest the server's index is keyed by (through its
// HMAC): SHA-256 of the value.
func liveDigest(v []byte) live.Digest {
	return sha256.Sum256(v)
}

// redact is [report.Redact] for bytes, without copying the whole value.
// Control characters (the line breaks of a multi-line candidate) become
// spaces, so that a report line stays one line.
func redact(v []byte) string {
	n := min(4, utf8.RuneCount(v[:min(len(v), 64)])/4)
	i := 0
	for range n {
		_, size := utf8.DecodeRune(v[i:])
		i += size
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, string(v[:i])) + "…"
}
