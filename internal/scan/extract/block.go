package extract

import "bytes"

// MaxBlockLength is the length in bytes of the longest multi-line
// candidate ([Blocks]): a PEM block or a whole small file.
const MaxBlockLength = 64 << 10

// Blocks calls emit for the multi-line candidates of data, which [Each],
// working line by line, cannot see: a value stored in Coffer whole, such as
// a PEM key or a pretty-printed JSON file.
//
//   - Each PEM block, from a "-----BEGIN label-----" line to the matching
//     "-----END label-----" line, its lines trimmed of surrounding white
//     space (as in a YAML block scalar) and joined by "\n", without and
//     with a final "\n", at the line of its BEGIN line.
//   - When whole is set (data is all of a file) and data is at most
//     [MaxBlockLength] bytes: data as it is, and trimmed of surrounding
//     white space, at line 1.
//
// Candidates shorter than [MinLength] or longer than [MaxBlockLength] are
// not emitted. The slice passed to emit is valid only during the call.
func Blocks(data []byte, whole bool, emit func(value []byte, line int)) {
	if whole && len(data) <= MaxBlockLength {
		emitBlock(data, 1, emit)
		if t := bytes.TrimSpace(data); len(t) != len(data) {
			emitBlock(t, 1, emit)
		}
	}
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		return
	}
	var (
		block []byte // the block being joined; nil outside one
		end   []byte // the END line that closes it
		start int    // the line of its BEGIN line
	)
	line := 0
	for len(data) > 0 {
		line++
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i < 0 {
			l, data = data, nil
		} else {
			l, data = data[:i], data[i+1:]
		}
		l = bytes.TrimSpace(l)
		switch {
		case block != nil:
			if len(block)+len(l)+2 > MaxBlockLength {
				block = nil
				continue
			}
			block = append(append(block, '\n'), l...)
			if bytes.Equal(l, end) {
				emitBlock(block, start, emit)
				emitBlock(append(block, '\n'), start, emit)
				block = nil
			}
		case bytes.HasPrefix(l, []byte("-----BEGIN ")) && bytes.HasSuffix(l, []byte("-----")) && len(l) > len("-----BEGIN -----"):
			label := l[len("-----BEGIN ") : len(l)-len("-----")]
			end = append(append(append(end[:0], "-----END "...), label...), "-----"...)
			block = append(make([]byte, 0, 4096), l...)
			start = line
		}
	}
}

// emitBlock emits v if its length is within bounds.
func emitBlock(v []byte, line int, emit func([]byte, int)) {
	if len(v) >= MinLength && len(v) <= MaxBlockLength {
		emit(v, line)
	}
}
