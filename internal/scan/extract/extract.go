// Package extract finds the candidate secret values in text: the strings a
// live-secret check hashes and sends to the server. It looks for tokens
// between delimiters, quoted strings, the values of KEY=value and
// "key: value" lines, the user information of URLs
// (scheme://user:password@host) and, inside base64 blobs, the decoded bytes
// and the candidates in them. [Blocks] adds the candidates that span
// lines: PEM blocks and whole small files.
//
// Extraction is deliberately generous: a candidate that is not a secret
// costs one hash and a slot in a batch, a missed one is a missed leak. It
// never returns a value shorter than [MinLength] (the server does not index
// shorter values) or longer than [MaxLength] ([MaxBlockLength] for
// [Blocks]).
//
// The package imports only the standard library and keeps no state; its
// functions are safe for concurrent use.
package extract

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"unicode/utf8"
)

// MinLength is the length in bytes of the shortest candidate: the server
// indexes no shorter value.
const MinLength = 8

// MaxLength is the length in bytes of the longest candidate. Longer tokens
// (minified code, embedded data) are not sent; the format detector still
// sees them.
const MaxLength = 4096

// minBase64 is the shortest token tried as base64: 16 characters decode to
// 12 bytes, the shortest decoded value worth a candidate with some margin.
const minBase64 = 16

// Each calls emit for every candidate in data with the 1-based number of the
// line it is on. A value may be emitted more than once (from different
// lines, or as a token and as a quoted string on different lines); values
// are distinct within one line. The slice passed to emit is valid only
// during the call: emit must copy it (or hash it) to keep it.
func Each(data []byte, emit func(value []byte, line int)) {
	e := lineEmitter{emit: emit}
	line := 0
	for len(data) > 0 {
		line++
		i := bytes.IndexByte(data, '\n')
		var l []byte
		if i < 0 {
			l, data = data, nil
		} else {
			l, data = data[:i], data[i+1:]
		}
		e.line = line
		e.seen = e.seen[:0]
		e.fromLine(l, 0)
	}
}

// lineEmitter emits the candidates of one line, each once.
type lineEmitter struct {
	emit func([]byte, int)
	line int
	// seen holds the values emitted on the current line; lines hold few
	// candidates, so a slice beats a map.
	seen [][]byte
}

// add emits v unless it is too short or long or was emitted on this line.
func (e *lineEmitter) add(v []byte) {
	if len(v) < MinLength || len(v) > MaxLength {
		return
	}
	for _, s := range e.seen {
		if bytes.Equal(s, v) {
			return
		}
	}
	// A line with a great many candidates (minified files) stops being
	// deduplicated rather than going quadratic.
	if len(e.seen) < 64 {
		e.seen = append(e.seen, v)
	}
	e.emit(v, e.line)
}

// fromLine emits the candidates of one line. depth counts base64 decoding
// passes: decoded text is searched once more, not recursively.
func (e *lineEmitter) fromLine(l []byte, depth int) {
	l = bytes.TrimRight(l, "\r")
	e.assignment(l)
	e.quoted(l)
	e.userinfo(l)
	start := -1
	for i := 0; i <= len(l); i++ {
		if i < len(l) && !isDelimiter(l[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			e.token(l[start:i], depth)
			start = -1
		}
	}
}

// isDelimiter reports whether c separates tokens: white space, quotes and
// the brackets and separators of common file formats. '=', ':', '/', '+',
// '@' and '.' are not delimiters, because secrets (base64, URLs) hold them;
// token splits on '=' and ':' itself.
func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f', '"', '\'', '`', ',', ';', '(', ')', '[', ']', '{', '}', '<', '>', '|', '\\':
		return true
	}
	return c < 0x20 || c == 0x7f
}

// token emits a token, the value after its first '=' or ':' (KEY=value,
// key:value), and what a base64 token decodes to.
func (e *lineEmitter) token(t []byte, depth int) {
	e.add(t)
	if i := bytes.IndexAny(t, "=:"); i > 0 && i < len(t)-1 && !bytes.HasPrefix(t[i:], []byte("://")) {
		v := t[i+1:]
		e.add(v)
		e.base64(v, depth)
	}
	e.base64(t, depth)
	// A trailing full stop ends a sentence more often than a secret.
	if n := len(t); n > MinLength && t[n-1] == '.' {
		e.add(t[:n-1])
	}
}

// assignment emits the value of KEY=value, KEY: value and export KEY=value
// lines, which may hold spaces (dotenv files, YAML), unquoted.
func (e *lineEmitter) assignment(l []byte) {
	l = bytes.TrimLeft(l, " \t")
	l = bytes.TrimPrefix(l, []byte("export "))
	l = bytes.TrimPrefix(l, []byte("- "))
	i := 0
	for i < len(l) && isKeyByte(l[i]) {
		i++
	}
	if i == 0 || i == len(l) {
		return
	}
	rest := l[i:]
	switch {
	case rest[0] == '=':
		rest = rest[1:]
	case rest[0] == ':' && (len(rest) == 1 || rest[1] == ' ' || rest[1] == '\t'):
		rest = rest[1:]
	default:
		return
	}
	v := bytes.TrimSpace(rest)
	// A trailing comment after white space is not part of the value.
	if j := bytes.Index(v, []byte(" #")); j >= 0 {
		e.add(bytes.TrimSpace(v[:j]))
	}
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		v = v[1 : len(v)-1]
	}
	e.add(v)
}

func isKeyByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// quoted emits what stands between matching quotes on the line, which may
// hold spaces or delimiters.
func (e *lineEmitter) quoted(l []byte) {
	for len(l) > 0 {
		i := bytes.IndexAny(l, "\"'`")
		if i < 0 {
			return
		}
		q := l[i]
		rest := l[i+1:]
		j := closingQuote(rest, q)
		if j < 0 {
			// An apostrophe in prose opens no string: look past it.
			l = rest
			continue
		}
		v := rest[:j]
		e.add(v)
		if q == '"' && bytes.IndexByte(v, '\\') >= 0 {
			e.add(unescape(v))
		}
		l = rest[j+1:]
	}
}

// closingQuote returns the index of the quote q that closes a string in s,
// skipping backslash escapes in double-quoted strings, or -1.
func closingQuote(s []byte, q byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if q == '"' {
				i++
			}
		case q:
			return i
		}
	}
	return -1
}

// unescape resolves the common backslash escapes of a double-quoted string.
func unescape(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i == len(v)-1 {
			out = append(out, v[i])
			continue
		}
		i++
		switch v[i] {
		case 'n':
			out = append(out, '\n')
		case 't':
			out = append(out, '\t')
		default:
			out = append(out, v[i])
		}
	}
	return out
}

// userinfo emits the password (and the whole user:password) of every URL
// with user information on the line, percent-decoded as well as raw.
func (e *lineEmitter) userinfo(l []byte) {
	for {
		i := bytes.Index(l, []byte("://"))
		if i < 0 {
			return
		}
		rest := l[i+3:]
		end := len(rest)
		for j, c := range rest {
			if c == '/' || c == '?' || c == '#' || isDelimiter(c) {
				end = j
				break
			}
		}
		authority := rest[:end]
		l = rest[end:]
		at := bytes.LastIndexByte(authority, '@')
		if at <= 0 {
			continue
		}
		info := authority[:at]
		e.add(info)
		if c := bytes.IndexByte(info, ':'); c >= 0 {
			pw := info[c+1:]
			e.add(pw)
			if bytes.IndexByte(pw, '%') >= 0 {
				if d, err := url.PathUnescape(string(pw)); err == nil {
					e.add([]byte(d))
				}
			}
		}
	}
}

// base64 emits what t decodes to when it is a base64 blob of text, and the
// candidates inside that text (one level deep).
func (e *lineEmitter) base64(t []byte, depth int) {
	if depth > 0 || len(t) < minBase64 || len(t) > MaxLength*2 {
		return
	}
	enc := base64Encoding(t)
	if enc == nil {
		return
	}
	dec := make([]byte, enc.DecodedLen(len(t)))
	n, err := enc.Decode(dec, t)
	if err != nil {
		return
	}
	dec = dec[:n]
	if !printable(dec) {
		return
	}
	// Decoded candidates stay on the line of the blob; they get their own
	// set of seen values, since dec is a fresh buffer.
	saved := e.seen
	e.seen = nil
	e.add(bytes.TrimRight(dec, "\r\n"))
	for l := range bytes.SplitSeq(dec, []byte("\n")) {
		e.fromLine(l, depth+1)
	}
	e.seen = saved
}

// base64Encoding returns the encoding t is written in (standard or URL
// alphabet, padded or not), or nil when t is not base64.
func base64Encoding(t []byte) *base64.Encoding {
	std, urlSafe := false, false
	pad := 0
	for i, c := range t {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if pad > 0 {
				return nil
			}
		case c == '+' || c == '/':
			std = true
		case c == '-' || c == '_':
			urlSafe = true
		case c == '=':
			if i < len(t)-2 {
				return nil
			}
			pad++
		default:
			return nil
		}
	}
	if std && urlSafe {
		return nil
	}
	switch {
	case pad > 0 && urlSafe:
		return base64.URLEncoding
	case pad > 0:
		return base64.StdEncoding
	case len(t)%4 == 0 && !urlSafe:
		return base64.StdEncoding
	case urlSafe:
		return base64.RawURLEncoding
	default:
		return base64.RawStdEncoding
	}
}

// printable reports whether b is valid UTF-8 text without control characters
// other than white space: what a secret encoded in base64 decodes to.
func printable(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
