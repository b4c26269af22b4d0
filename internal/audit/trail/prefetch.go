package trail

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// The verifier's checks are sequential, but hashing and parsing a line
// need nothing but the line: a prefetcher reads lines ahead in batches
// and has workers hash and parse them, and hands the batches back in file
// order.
const (
	prefetchWorkers    = 2
	prefetchQueue      = 4       // batches read ahead, besides the workers'
	prefetchBatchLines = 512     // a batch ends at this many lines
	prefetchBatchBytes = 1 << 20 // or past this many bytes
)

// lineBatch is lines read in a row; done is closed once they are hashed
// and parsed. err, set on the last batch, is the read error that ended
// the file (io.EOF at its end).
type lineBatch struct {
	lines []*line
	err   error
	done  chan struct{}
}

// prefetcher reads lines ahead of the verifier.
type prefetcher struct {
	order chan *lineBatch // batches in file order
	stop  chan struct{}   // closed by close: stop reading
	wg    sync.WaitGroup

	cur *lineBatch // the batch being handed out
	i   int        // its next line
}

// newPrefetcher starts reading lr; close must be called when done.
func newPrefetcher(lr *lineReader, schema []schemaField) *prefetcher {
	p := &prefetcher{order: make(chan *lineBatch, prefetchQueue), stop: make(chan struct{})}
	work := make(chan *lineBatch, prefetchQueue)
	for range prefetchWorkers {
		p.wg.Go(func() {
			for b := range work {
				for _, ln := range b.lines {
					if ln.err == nil {
						ln.hash = audit.LineHash(ln.raw)
						ln.err = parseLine(schema, ln.raw, &ln.l)
					}
				}
				close(b.done)
			}
		})
	}
	p.wg.Go(func() {
		defer close(work)
		defer close(p.order)
		for {
			b := &lineBatch{done: make(chan struct{}), lines: make([]*line, 0, prefetchBatchLines)}
			// The batch's lines share one buffer and one allocation of
			// line records.
			arena := make([]byte, 0, prefetchBatchBytes+64<<10)
			recs := make([]line, prefetchBatchLines)
			for len(b.lines) < prefetchBatchLines && len(arena) < prefetchBatchBytes {
				raw, terminated, err := lr.nextShared()
				if errors.Is(err, errLineTooLong) {
					b.lines = append(b.lines, &line{n: lr.n, terminated: terminated, err: err})
					continue
				}
				if err != nil {
					b.err = err
					break
				}
				if len(arena)+len(raw) <= cap(arena) {
					start := len(arena)
					arena = append(arena, raw...)
					raw = arena[start:len(arena):len(arena)]
				} else {
					raw = bytes.Clone(raw)
				}
				ln := &recs[len(b.lines)]
				*ln = line{n: lr.n, raw: raw, terminated: terminated}
				b.lines = append(b.lines, ln)
			}
			select {
			case p.order <- b:
			case <-p.stop:
				close(b.done)
				return
			}
			select {
			case work <- b:
			case <-p.stop:
				close(b.done)
				return
			}
			if b.err != nil {
				return
			}
		}
	})
	return p
}

// next returns the next line, hashed and parsed; nil after the last.
// The error is a failure to read.
func (p *prefetcher) next() (*line, error) {
	for {
		if p.cur != nil && p.i < len(p.cur.lines) {
			p.i++
			return p.cur.lines[p.i-1], nil
		}
		if p.cur != nil && p.cur.err != nil {
			if errors.Is(p.cur.err, io.EOF) {
				return nil, nil
			}
			return nil, p.cur.err
		}
		b, ok := <-p.order
		if !ok {
			return nil, nil
		}
		<-b.done
		p.cur, p.i = b, 0
	}
}

// close stops reading and waits for the goroutines to end.
func (p *prefetcher) close() {
	close(p.stop)
	for range p.order {
		// Drain, so that the reader is not blocked on a full queue.
	}
	p.wg.Wait()
}
