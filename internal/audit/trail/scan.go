package trail

import (
	"strconv"

	"github.com/coffer-secrets/coffer/internal/audit"
)

// The verifier reads a million lines in a few seconds only if it does not
// run encoding/json on each: scanLine reads a line in one pass, checking
// its whole syntax and the types of the fields encoding/json would fill,
// and keeps only the chain fields. It answers "ok" only when it is sure
// that json.Unmarshal into an [audit.Line] would succeed and give the same
// chain fields; for anything unusual (a syntax error, a type mismatch, a
// duplicate or escaped chain field, a key in other than lowercase ASCII,
// which encoding/json would match without regard to case, a null) it
// gives up and parseLine runs encoding/json, so its verdicts are exactly
// encoding/json's. FuzzScanLine checks that.

// valueKind is what a field of [audit.Line] (or of the objects in it)
// takes, as encoding/json would fill it.
type valueKind uint8

const (
	kAny       valueKind = iota // an unknown field, or json.RawMessage: any value
	kString                     // string
	kInt64                      // int64
	kUint64                     // uint64
	kStrings                    // []string
	kStringMap                  // map[string]string
	kObject                     // a struct or a pointer to one: fields
)

// chainField numbers the [audit.Line] fields scanLine keeps.
type chainField uint8

const (
	fNone chainField = iota
	fSeq
	fChainID
	fPrevHash
	fType
	fTime
	fError
	fHash
	fSignature
	fOffset
	fCutBytes
	fFailedWrites
	numChainFields
)

// schemaField describes one field of an object: its JSON name, its kind,
// its fields (kObject) and the chain field it fills (top level only).
type schemaField struct {
	name  string
	kind  valueKind
	sub   []schemaField
	chain chainField
}

// lineSchema returns the schema of an audit line, from the types in
// package audit (a field missing here would only be checked for syntax;
// FuzzScanLine compares scanLine with encoding/json). It is built once a
// verification, not kept in a package variable.
func lineSchema() []schemaField {
	authSchema := []schemaField{
		{name: "client_token", kind: kString},
		{name: "accessor", kind: kString},
		{name: "display_name", kind: kString},
		{name: "policies", kind: kStrings},
		{name: "token_policies", kind: kStrings},
		{name: "identity_policies", kind: kStrings},
		{name: "metadata", kind: kStringMap},
		{name: "entity_id", kind: kString},
		{name: "token_type", kind: kString},
		{name: "token_ttl", kind: kInt64},
		{name: "token_issue_time", kind: kString},
	}
	requestSchema := []schemaField{
		{name: "id", kind: kString},
		{name: "operation", kind: kString},
		{name: "mount_type", kind: kString},
		{name: "mount_point", kind: kString},
		{name: "mount_accessor", kind: kString},
		{name: "client_token", kind: kString},
		{name: "client_token_accessor", kind: kString},
		{name: "namespace", kind: kObject, sub: []schemaField{{name: "id", kind: kString}}},
		{name: "path", kind: kString},
		{name: "data", kind: kAny},
		{name: "remote_address", kind: kString},
		{name: "wrap_ttl", kind: kInt64},
	}
	responseSchema := []schemaField{
		{name: "mount_type", kind: kString},
		{name: "mount_point", kind: kString},
		{name: "data", kind: kAny},
		{name: "secret", kind: kObject, sub: []schemaField{{name: "lease_id", kind: kString}}},
		{name: "auth", kind: kObject, sub: authSchema},
		{name: "wrap_info", kind: kObject, sub: []schemaField{
			{name: "token", kind: kString},
			{name: "accessor", kind: kString},
			{name: "ttl", kind: kInt64},
			{name: "creation_time", kind: kString},
			{name: "creation_path", kind: kString},
			{name: "wrapped_accessor", kind: kString},
		}},
	}
	return []schemaField{
		{name: "seq", kind: kUint64, chain: fSeq},
		{name: "chain_id", kind: kString, chain: fChainID},
		{name: "prev_hash", kind: kString, chain: fPrevHash},
		{name: "type", kind: kString, chain: fType},
		{name: "time", kind: kString, chain: fTime},
		{name: "node_id", kind: kString},
		{name: "auth", kind: kObject, sub: authSchema},
		{name: "request", kind: kObject, sub: requestSchema},
		{name: "forward", kind: kObject, sub: []schemaField{{name: "target", kind: kString}}},
		{name: "response", kind: kObject, sub: responseSchema},
		{name: "error", kind: kString, chain: fError},
		{name: "hash", kind: kString, chain: fHash},
		{name: "signature", kind: kString, chain: fSignature},
		{name: "offset", kind: kInt64, chain: fOffset},
		{name: "cut_bytes", kind: kInt64, chain: fCutBytes},
		{name: "failed_writes", kind: kInt64, chain: fFailedWrites},
	}
}

// maxScanDepth is the deepest nesting scanLine follows; deeper lines go
// to encoding/json (whose own limit is higher).
const maxScanDepth = 512

// scanner reads one line.
type scanner struct {
	b    []byte
	i    int
	seen [numChainFields]bool
	l    *audit.Line
}

// scanLine fills l's chain fields from raw, read with schema (from
// [lineSchema]), and reports true when it is
// sure encoding/json would do the same without error; see above. l is
// left partly filled when it reports false.
func scanLine(schema []schemaField, raw []byte, l *audit.Line) bool {
	s := scanner{b: raw, l: l}
	s.space()
	if !s.object(schema, 1) {
		return false
	}
	s.space()
	return s.i == len(s.b)
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object reads an object whose fields are described by fields.
func (s *scanner) object(fields []schemaField, depth int) bool {
	if depth > maxScanDepth || s.i >= len(s.b) || s.b[s.i] != '{' {
		return false
	}
	s.i++
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		key, ok := s.key()
		if !ok {
			return false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		f := lookup(fields, key)
		if f == nil {
			if !s.value(kAny, nil, depth+1) {
				return false
			}
		} else if f.chain != fNone {
			if s.seen[f.chain] || !s.chainValue(f) {
				return false
			}
			s.seen[f.chain] = true
		} else if !s.value(f.kind, f.sub, depth+1) {
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

func lookup(fields []schemaField, key []byte) *schemaField {
	for i := range fields {
		if fields[i].name == string(key) {
			return &fields[i]
		}
	}
	return nil
}

// key reads an object key of a struct: only lowercase ASCII letters,
// digits and '_' without escapes, which encoding/json matches exactly.
func (s *scanner) key() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		default:
			return nil, false
		}
	}
	return nil, false
}

// chainValue reads the value of a chain field into the line.
func (s *scanner) chainValue(f *schemaField) bool {
	switch f.kind {
	case kString:
		v, ok := s.plainString()
		if !ok {
			return false
		}
		switch f.chain {
		case fChainID:
			s.l.ChainID = string(v)
		case fPrevHash:
			s.l.PrevHash = string(v)
		case fType:
			s.l.Type = lineType(v)
		case fTime:
			s.l.Time = string(v)
		case fError:
			s.l.Error = string(v)
		case fHash:
			s.l.Hash = string(v)
		case fSignature:
			s.l.Signature = string(v)
		}
		return true
	case kUint64:
		num, ok := s.number()
		if !ok {
			return false
		}
		n, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return false
		}
		s.l.Seq = n
		return true
	case kInt64:
		num, ok := s.number()
		if !ok {
			return false
		}
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return false
		}
		switch f.chain {
		case fOffset:
			s.l.Offset = n
		case fCutBytes:
			s.l.CutBytes = n
		case fFailedWrites:
			s.l.FailedWrites = n
		}
		return true
	}
	return false
}

// lineType returns the line type in v, without a copy for the known ones.
func lineType(v []byte) string {
	switch string(v) {
	case audit.TypeRequest:
		return audit.TypeRequest
	case audit.TypeResponse:
		return audit.TypeResponse
	case audit.TypeCheckpoint:
		return audit.TypeCheckpoint
	case audit.TypeTornWrite:
		return audit.TypeTornWrite
	case audit.TypeForward:
		return audit.TypeForward
	}
	return string(v)
}

// plainString reads a string of printable ASCII without escapes, whose
// bytes are its value.
func (s *scanner) plainString() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], true
		case c < 0x20 || c >= 0x80 || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// value reads a value that encoding/json would put into a field of kind
// k (fields for kObject), checking its syntax and its type.
func (s *scanner) value(k valueKind, fields []schemaField, depth int) bool {
	if depth > maxScanDepth || s.i >= len(s.b) {
		return false
	}
	c := s.b[s.i]
	if c == 'n' {
		// null leaves any field as it was, or nil: no error.
		return s.literal("null")
	}
	switch k {
	case kString:
		return c == '"' && s.str()
	case kInt64:
		num, ok := s.number()
		if !ok {
			return false
		}
		_, err := strconv.ParseInt(string(num), 10, 64)
		return err == nil
	case kUint64:
		num, ok := s.number()
		if !ok {
			return false
		}
		_, err := strconv.ParseUint(string(num), 10, 64)
		return err == nil
	case kStrings:
		return c == '[' && s.array(kString, depth)
	case kStringMap:
		return c == '{' && s.mapOf(kString, depth)
	case kObject:
		return s.object(fields, depth)
	}
	// kAny
	switch c {
	case '"':
		return s.str()
	case '{':
		return s.mapOf(kAny, depth)
	case '[':
		return s.array(kAny, depth)
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	}
	_, ok := s.number()
	return ok
}

// array reads an array of values of kind k.
func (s *scanner) array(k valueKind, depth int) bool {
	s.i++ // '['
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		if !s.value(k, nil, depth+1) {
			return false
		}
		if more, ok := s.next(']'); !more {
			return ok
		}
	}
}

// next reads what follows a member or an element: a comma (more is
// true) or the closing byte end (more is false, ok is true); anything
// else is malformed (both false).
func (s *scanner) next(end byte) (more, ok bool) {
	s.space()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.space()
		return true, true
	case end:
		s.i++
		return false, true
	}
	return false, false
}

// mapOf reads an object with any keys and values of kind k.
func (s *scanner) mapOf(k valueKind, depth int) bool {
	s.i++ // '{'
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() {
			return false
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.space()
		if !s.value(k, nil, depth+1) {
			return false
		}
		if more, ok := s.next('}'); !more {
			return ok
		}
	}
}

// str reads a JSON string (at '"'), checking its escapes.
func (s *scanner) str() bool {
	j := s.i + 1
	for j < len(s.b) {
		// Skip the plain bytes at once: most strings have no escape.
		k := j
		for _, c := range s.b[j:] {
			if c < 0x20 || c == '"' || c == '\\' {
				break
			}
			k++
		}
		j = k
		if j >= len(s.b) {
			return false
		}
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(s.b) {
				return false
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[j+2 : j+6] {
					if !isHexDigit(h) {
						return false
					}
				}
				j += 6
			default:
				return false
			}
		default:
			j++
		}
	}
	return false
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// literal reads the literal word.
func (s *scanner) literal(word string) bool {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return false
	}
	s.i += len(word)
	return true
}

// number reads a JSON number and returns its text.
func (s *scanner) number() ([]byte, bool) {
	start, j := s.i, s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	switch {
	case j < len(s.b) && s.b[j] == '0':
		j++
	case j < len(s.b) && s.b[j] >= '1' && s.b[j] <= '9':
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
	default:
		return nil, false
	}
	if j < len(s.b) && s.b[j] == '.' {
		j++
		d := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		if j == d {
			return nil, false
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		d := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		if j == d {
			return nil, false
		}
	}
	s.i = j
	return s.b[start:j], true
}
