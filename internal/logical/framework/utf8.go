package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// CheckUTF8 checks that every key and string value of the JSON document
// body is valid UTF-8. Go's decoder would silently replace bad bytes in
// some places and keep them raw in others (a json.RawMessage is stored as
// sent), so a secret could be stored in a form clients then fail to
// parse. The error is [logical.ErrInvalidRequest] naming the field, as
// "data.list[2]", never its value. body must already be valid JSON.
func CheckUTF8(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// The stack holds each open container's own segment (its key or
	// index), not its whole path: field names are built only for the
	// error, so a deeply nested body costs memory linear in its size.
	var stack []utf8Frame
	var key string // the last key read in the innermost object
	prev := int64(0)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return logical.InvalidRequest("failed to parse JSON input")
		}
		end := dec.InputOffset()
		raw := body[prev:end]
		prev = end
		_, isDelim := tok.(json.Delim)
		n := len(stack)
		isKey := n > 0 && stack[n-1].object && stack[n-1].wantKey && !isDelim
		if !utf8.Valid(raw) {
			if isKey {
				if p := framePath(stack); p != "" {
					return logical.InvalidRequest("invalid UTF-8 in a field name under %q", p)
				}
				return logical.InvalidRequest("invalid UTF-8 in a field name")
			}
			return logical.InvalidRequest("invalid UTF-8 in field %q", valuePath(stack, key))
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:n-1]
			advance(stack)
			continue
		}
		if isKey {
			key, _ = tok.(string)
			stack[n-1].wantKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			f := utf8Frame{object: d == '{', wantKey: d == '{'}
			if n > 0 {
				if stack[n-1].object {
					f.seg = key
				} else {
					f.seg, f.isIndex = "["+strconv.Itoa(stack[n-1].index)+"]", true
				}
			}
			stack = append(stack, f)
			continue
		}
		advance(stack)
	}
}

// utf8Frame is one open JSON container while [CheckUTF8] walks a body.
type utf8Frame struct {
	seg     string // the container's key in its parent, or "[i]"; "" at the top
	isIndex bool   // seg is an array index
	object  bool
	wantKey bool // in an object, the next string is a key
	index   int  // in an array, the index of the next element
}

// framePath returns the field name of the innermost open container, as
// "data.list[2]".
func framePath(stack []utf8Frame) string {
	var p strings.Builder
	for i, f := range stack {
		if i == 0 {
			continue
		}
		if !f.isIndex && p.Len() > 0 {
			p.WriteByte('.')
		}
		p.WriteString(f.seg)
	}
	return p.String()
}

// valuePath returns the field name of the value just read inside the
// innermost container (key is the last key read there).
func valuePath(stack []utf8Frame, key string) string {
	n := len(stack)
	if n == 0 {
		return ""
	}
	if top := stack[n-1]; !top.object {
		return framePath(stack) + "[" + strconv.Itoa(top.index) + "]"
	}
	return join(framePath(stack), key)
}

// advance moves the innermost container past one complete value.
func advance(stack []utf8Frame) {
	if n := len(stack); n > 0 {
		if stack[n-1].object {
			stack[n-1].wantKey = true
		} else {
			stack[n-1].index++
		}
	}
}

// join names a member of the object at path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
