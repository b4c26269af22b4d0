package trail

import (
	"context"
	"io"
	"iter"
	"time"
)

// FileMatch is an entry a merged search selected, with the index of the
// log it came from (in the order the logs were given).
type FileMatch struct {
	Match
	File int
}

// SearchMerged returns the entries f selects in every log of logs (each
// node's own log of one cluster, say), merged by time: the entry with the
// earliest time comes first, and the merge is stable: entries of one log
// keep their order in it, and entries of equal time keep the order of the
// logs as given. Each log is read once, in step with the others, so
// memory does not grow with the logs. A line that is not a valid audit
// line yields an error (with its log's index and line) and the search goes
// on; a read failure yields an error and ends that log's part of the
// search. It ends, yielding ctx's error, once ctx is done.
func SearchMerged(ctx context.Context, logs []io.Reader, f Filter) iter.Seq2[FileMatch, error] {
	return func(yield func(FileMatch, error) bool) {
		type head struct {
			next func() (Match, error, bool)
			stop func()
			m    Match
			t    time.Time
			ok   bool
		}
		heads := make([]*head, len(logs))
		defer func() {
			for _, h := range heads {
				if h != nil {
					h.stop()
				}
			}
		}()
		// advance moves log i to its next selected entry, yielding the
		// errors met on the way; it reports false when the caller
		// stopped.
		advance := func(i int) bool {
			h := heads[i]
			for {
				m, err, ok := h.next()
				if !ok {
					h.ok = false
					return true
				}
				if err != nil {
					if !yield(FileMatch{Match: m, File: i}, err) {
						return false
					}
					if m.Line == 0 {
						// A read failure (or ctx ended): this log is done.
						h.ok = false
						return true
					}
					continue
				}
				h.m, h.ok = m, true
				h.t, _ = time.Parse(time.RFC3339Nano, m.Entry.Time)
				return true
			}
		}
		for i, r := range logs {
			next, stop := iter.Pull2(SearchContext(ctx, r, f))
			heads[i] = &head{next: next, stop: stop}
			if !advance(i) {
				return
			}
		}
		for {
			best := -1
			for i, h := range heads {
				if h.ok && (best < 0 || h.t.Before(heads[best].t)) {
					best = i
				}
			}
			if best < 0 {
				return
			}
			if !yield(FileMatch{Match: heads[best].m, File: best}, nil) {
				return
			}
			if !advance(best) {
				return
			}
		}
	}
}
