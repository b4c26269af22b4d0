package trail

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineSize is the longest line Verify and Search read; a longer line
// is reported as malformed.
const MaxLineSize = 64 << 20

// errLineTooLong marks a line over MaxLineSize; the rest of it is skipped.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineSize)

// lineReader splits a reader into lines.
type lineReader struct {
	br *bufio.Reader
	n  int // number of the last line returned, from 1
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its newline, whether a newline
// ended it, and io.EOF after the last line. The line is the caller's. A
// line over MaxLineSize comes back as errLineTooLong, with the reader
// past it.
func (lr *lineReader) next() (line []byte, terminated bool, err error) {
	chunk, err := lr.br.ReadSlice('\n')
	return lr.rest(chunk, err)
}

// nextShared is next, but a line that fits in the read buffer comes back
// without a copy: it is valid only until the next call.
func (lr *lineReader) nextShared() (line []byte, terminated bool, err error) {
	chunk, err := lr.br.ReadSlice('\n')
	if err == nil && len(chunk) <= MaxLineSize+1 {
		lr.n++
		return chunk[:len(chunk)-1], true, nil
	}
	return lr.rest(chunk, err)
}

// rest reads the rest of a line whose first chunk was read with err.
func (lr *lineReader) rest(chunk []byte, err error) (line []byte, terminated bool, _ error) {
	var buf []byte
	tooLong := false
	for first := true; ; first = false {
		if !first {
			chunk, err = lr.br.ReadSlice('\n')
		}
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineSize+1 {
				tooLong = true
				buf = nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			lr.n++
			if tooLong {
				return nil, true, errLineTooLong
			}
			return bytes.TrimSuffix(buf, []byte{'\n'}), true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			lr.n++
			if tooLong {
				return nil, false, errLineTooLong
			}
			return buf, false, nil
		default:
			return nil, false, fmt.Errorf("read audit log: %w", err)
		}
	}
}
