package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// HMACPrefix starts every HMACed value in an audit line.
const HMACPrefix = "hmac-sha256:"

// maxPooledBuf is the largest line buffer a formatter keeps for reuse; a
// line made for a huge request is left to the garbage collector.
const maxPooledBuf = 64 << 10

// formatter builds the body of request and response lines for one device:
// everything but the chain fields. Its settings never change; it is safe
// for concurrent use.
//
// It writes the fixed shape of a line with a hand-written encoder whose
// output is byte for byte what encoding/json makes of the Line types (the
// hash chain covers these bytes): fields in struct order, omitempty as the
// tags say, map keys sorted, strings escaped as encoding/json escapes them
// (HTML characters, U+2028 and U+2029 as \u escapes, invalid UTF-8 as
// U+FFFD).
type formatter struct {
	key         []byte // 32-byte HMAC key, never written anywhere
	raw         bool   // log_raw: write secrets as they are
	rawAccessor bool   // hmac_accessor=false: write accessors as they are
	nodeID      string // written in every line; "" on a single server

	hashers *sync.Pool // of *hasher keyed with key, reused across lines
	bufs    *sync.Pool // of *[]byte, line bodies being built
}

func newFormatter(key []byte, raw, rawAccessor bool, nodeID string) formatter {
	f := formatter{key: key, raw: raw, rawAccessor: rawAccessor, nodeID: nodeID}
	f.hashers = &sync.Pool{New: func() any {
		return &hasher{mac: hmac.New(sha256.New, key), off: raw}
	}}
	f.bufs = &sync.Pool{New: func() any {
		b := make([]byte, 0, 2048)
		return &b
	}}
	return f
}

// hasher HMACs values for one formatting call; it is not safe for
// concurrent use: a formatting call takes one from the pool and gives it
// back when done.
type hasher struct {
	mac hash.Hash
	sum []byte
	in  []byte // the value being hashed, copied to spare an allocation
	off bool   // write values as they are
}

// hmac sets h.sum to the HMAC of s.
func (h *hasher) hmac(s string) {
	h.mac.Reset()
	h.in = append(h.in[:0], s...)
	h.mac.Write(h.in)
	h.sum = h.mac.Sum(h.sum[:0])
	if cap(h.in) > maxPooledBuf {
		h.in = nil
	}
}

func (f *formatter) hasher() *hasher { return f.hashers.Get().(*hasher) }

func (f *formatter) putHasher(h *hasher) { f.hashers.Put(h) }

// value returns s HMACed, or s itself when hashing is off or s is empty.
func (h *hasher) value(s string) string {
	if h.off || s == "" {
		return s
	}
	return h.force(s)
}

// force returns s HMACed whatever the device's settings.
func (h *hasher) force(s string) string {
	h.hmac(s)
	out := make([]byte, len(HMACPrefix)+hex.EncodedLen(len(h.sum)))
	copy(out, HMACPrefix)
	hex.Encode(out[len(HMACPrefix):], h.sum)
	return string(out)
}

// appendValue appends s HMACed as a JSON string, or s itself when hashing
// is off or s is empty.
func (h *hasher) appendValue(dst []byte, s string) []byte {
	if h.off || s == "" {
		return appendString(dst, s)
	}
	h.hmac(s)
	dst = append(dst, '"')
	dst = append(dst, HMACPrefix...)
	dst = hex.AppendEncode(dst, h.sum)
	return append(dst, '"')
}

// hashValue is the HMAC of s as sys/audit-hash reports it.
func (f *formatter) hashValue(s string) string {
	h := f.hasher()
	defer f.putHasher(h)
	return h.force(s)
}

// appendAccessor appends an accessor HMACed unless hmac_accessor is off.
func (f *formatter) appendAccessor(dst []byte, h *hasher, s string) []byte {
	if f.rawAccessor {
		return appendString(dst, s)
	}
	return h.appendValue(dst, s)
}

// format returns the JSON object of a request or response line, without
// chain fields and without a newline. The slice comes from the
// formatter's pool: the caller hands it back with release when done.
func (f *formatter) format(typ string, e *Entry) (*[]byte, error) {
	h := f.hasher()
	defer f.putHasher(h)
	bp := f.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"time":"`...)
	b = appendTime(b, e.Time)
	b = append(b, '"')
	if f.nodeID != "" {
		b = append(b, `,"node_id":`...)
		b = appendString(b, f.nodeID)
	}
	if e.Auth != nil {
		b = append(b, `,"auth":`...)
		b = f.appendAuth(b, h, e.Auth)
	}
	b = append(b, `,"request":`...)
	b, err := f.appendRequest(b, h, &e.Request)
	if err != nil {
		f.release(bp)
		return nil, err
	}
	if typ == TypeForward {
		b = append(b, `,"forward":{"target":`...)
		target := ""
		if e.Forward != nil {
			target = e.Forward.Target
		}
		b = appendString(b, target)
		b = append(b, '}')
	}
	if typ == TypeResponse {
		b = append(b, `,"response":`...)
		if b, err = f.appendResponse(b, h, e.Response); err != nil {
			f.release(bp)
			return nil, err
		}
	}
	if e.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, e.Error)
	}
	b = append(b, '}')
	*bp = b
	return bp, nil
}

// release gives a buffer from format back to the pool.
func (f *formatter) release(bp *[]byte) {
	if cap(*bp) > maxPooledBuf {
		return
	}
	*bp = (*bp)[:0]
	f.bufs.Put(bp)
}

// fields writes the members of a JSON object, adding the commas.
type fields struct {
	b     []byte
	first bool
}

func openObject(b []byte) fields { return fields{b: append(b, '{'), first: true} }

func (w *fields) name(n string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, n...)
	w.b = append(w.b, '"', ':')
}

// str writes a string member, skipped when empty and omit is set.
func (w *fields) str(n, v string, omit bool) {
	if v == "" && omit {
		return
	}
	w.name(n)
	w.b = appendString(w.b, v)
}

func (w *fields) int(n string, v int64, omit bool) {
	if v == 0 && omit {
		return
	}
	w.name(n)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *fields) strings(n string, v []string) {
	if len(v) == 0 {
		return
	}
	w.name(n)
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.b = appendString(w.b, s)
	}
	w.b = append(w.b, ']')
}

func (w *fields) close() []byte { return append(w.b, '}') }

func (f *formatter) appendAuth(b []byte, h *hasher, a *Auth) []byte {
	w := openObject(b)
	if a.ClientToken != "" {
		w.name("client_token")
		w.b = h.appendValue(w.b, a.ClientToken)
	}
	if a.Accessor != "" {
		w.name("accessor")
		w.b = f.appendAccessor(w.b, h, a.Accessor)
	}
	w.str("display_name", a.DisplayName, true)
	w.strings("policies", a.Policies)
	w.strings("token_policies", a.TokenPolicies)
	w.strings("identity_policies", a.IdentityPolicies)
	if len(a.Metadata) > 0 {
		w.name("metadata")
		keys := make([]string, 0, len(a.Metadata))
		for k := range a.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.b = append(w.b, '{')
		for i, k := range keys {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = appendString(w.b, k)
			w.b = append(w.b, ':')
			w.b = h.appendValue(w.b, a.Metadata[k])
		}
		w.b = append(w.b, '}')
	}
	w.str("entity_id", a.EntityID, true)
	w.str("token_type", a.TokenType, true)
	w.int("token_ttl", int64(a.TokenTTL/time.Second), true)
	if !a.TokenIssueTime.IsZero() {
		w.name("token_issue_time")
		w.b = append(w.b, '"')
		w.b = appendTime(w.b, a.TokenIssueTime)
		w.b = append(w.b, '"')
	}
	return w.close()
}

func (f *formatter) appendRequest(b []byte, h *hasher, r *Request) ([]byte, error) {
	w := openObject(b)
	w.str("id", r.ID, true)
	w.str("operation", r.Operation, true)
	w.str("mount_type", r.MountType, true)
	w.str("mount_point", r.MountPoint, true)
	w.str("mount_accessor", r.MountAccessor, true)
	if r.ClientToken != "" {
		w.name("client_token")
		w.b = h.appendValue(w.b, r.ClientToken)
	}
	if r.ClientTokenAccessor != "" {
		w.name("client_token_accessor")
		w.b = f.appendAccessor(w.b, h, r.ClientTokenAccessor)
	}
	w.name("namespace")
	w.b = append(w.b, `{"id":"root"}`...)
	w.str("path", r.Path, false)
	if len(r.Data) > 0 {
		w.name("data")
		var err error
		if w.b, err = f.appendData(w.b, h, r.Data, r.NonHMACKeys); err != nil {
			return nil, err
		}
	}
	w.str("remote_address", r.RemoteAddress, true)
	w.int("wrap_ttl", int64(r.WrapTTL/time.Second), true)
	return w.close(), nil
}

func (f *formatter) appendResponse(b []byte, h *hasher, r *Response) ([]byte, error) {
	w := openObject(b)
	if r == nil {
		return w.close(), nil
	}
	w.str("mount_type", r.MountType, true)
	w.str("mount_point", r.MountPoint, true)
	if len(r.Data) > 0 {
		w.name("data")
		var err error
		if w.b, err = f.appendData(w.b, h, r.Data, r.NonHMACKeys); err != nil {
			return nil, err
		}
	}
	if r.LeaseID != "" {
		w.name("secret")
		w.b = append(w.b, `{"lease_id":`...)
		w.b = appendString(w.b, r.LeaseID)
		w.b = append(w.b, '}')
	}
	if r.Auth != nil {
		w.name("auth")
		w.b = f.appendAuth(w.b, h, r.Auth)
	}
	if wi := r.WrapInfo; wi != nil {
		w.name("wrap_info")
		x := openObject(w.b)
		x.name("token")
		x.b = h.appendValue(x.b, wi.Token)
		x.name("accessor")
		x.b = f.appendAccessor(x.b, h, wi.Accessor)
		x.int("ttl", int64(wi.TTL/time.Second), false)
		x.name("creation_time")
		x.b = append(x.b, '"')
		x.b = appendTime(x.b, wi.CreationTime)
		x.b = append(x.b, '"')
		x.str("creation_path", wi.CreationPath, false)
		if wi.WrappedAccessor != "" {
			x.name("wrapped_accessor")
			x.b = f.appendAccessor(x.b, h, wi.WrappedAccessor)
		}
		w.b = x.close()
	}
	return w.close(), nil
}

// appendData appends request or response data, raw not empty, with every
// string leaf HMACed, except the values of the top-level keys in keep.
// Data that is not valid JSON is written as one HMACed string, so it is
// never lost nor leaked. With log_raw the data is written as is, made
// compact so that it stays on one line.
func (f *formatter) appendData(b []byte, h *hasher, raw json.RawMessage, keep []string) ([]byte, error) {
	if f.raw {
		if !json.Valid(raw) {
			return h.appendValue(b, string(raw)), nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("compact audit data: %w", err)
		}
		return appendHTMLEscaped(b, buf.Bytes()), nil
	}
	// One pass: the decoder rejects what json.Valid rejects in the first
	// value, and anything but white space after it makes the data invalid.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || !onlySpace(raw[dec.InputOffset():]) {
		return h.appendValue(b, string(raw)), nil
	}
	if m, ok := v.(map[string]any); ok {
		return appendObject(b, h, m, keep)
	}
	return appendHashed(b, h, v)
}

// onlySpace reports whether b is JSON white space only.
func onlySpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

// appendObject writes m with its keys sorted, HMACing every string leaf
// except the values of the keys in keep, which are written as they are.
func appendObject(b []byte, h *hasher, m map[string]any, keep []string) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if keep != nil && slices.Contains(keep, k) {
			b, err = appendPlain(b, m[k])
		} else {
			b, err = appendHashed(b, h, m[k])
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendHashed writes v, a value decoded with UseNumber, HMACing every
// string in it.
func appendHashed(b []byte, h *hasher, v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return h.appendValue(b, s), nil
	}
	return appendJSON(b, v, h)
}

// appendPlain writes v, a value decoded with UseNumber, as it is.
func appendPlain(b []byte, v any) ([]byte, error) {
	return appendJSON(b, v, nil)
}

// appendJSON writes v, a value decoded with UseNumber, as encoding/json
// would; strings are HMACed when h is not nil.
func appendJSON(b []byte, v any, h *hasher) ([]byte, error) {
	var err error
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, t), nil
	case json.Number:
		if t == "" {
			return append(b, '0'), nil
		}
		return append(b, t...), nil
	case string:
		if h != nil {
			return h.appendValue(b, t), nil
		}
		return appendString(b, t), nil
	case []any:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSON(b, x, h); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendJSON(b, t[k], h); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("encode audit data: unexpected %T", v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json writes
// it with HTML escaping on.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendHTMLEscaped appends src, compact JSON, with <, >, &, U+2028 and
// U+2029 escaped as encoding/json escapes raw messages it embeds.
func appendHTMLEscaped(b, src []byte) []byte {
	start := 0
	for i, c := range src {
		if c == '<' || c == '>' || c == '&' {
			b = append(b, src[start:i]...)
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		// U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
		if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
			b = append(b, src[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			start = i + 3
		}
	}
	return append(b, src[start:]...)
}

// appendTime appends t as formatTime writes it.
func appendTime(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, time.RFC3339Nano)
}

// formatTime writes t as Vault's audit log does: RFC 3339 in UTC with
// nanoseconds.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
