package framework

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
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
		// name is the path of the value just read.
		name := ""
		isKey := false
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			switch {
			case top.object && top.wantKey:
				if _, ok := tok.(json.Delim); !ok {
					isKey = true
				}
			case top.object:
				name = join(top.path, key)
			default:
				name = top.path + "[" + strconv.Itoa(top.index) + "]"
			}
		}
		if !utf8.Valid(raw) {
			if isKey {
				if p := stack[len(stack)-1].path; p != "" {
					return logical.InvalidRequest("invalid UTF-8 in a field name under %q", p)
				}
				return logical.InvalidRequest("invalid UTF-8 in a field name")
			}
			return logical.InvalidRequest("invalid UTF-8 in field %q", name)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			advance(stack)
			continue
		}
		if isKey {
			key, _ = tok.(string)
			stack[len(stack)-1].wantKey = false
			continue
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, utf8Frame{path: name, object: d == '{', wantKey: d == '{'})
			continue
		}
		advance(stack)
	}
}

// utf8Frame is one open JSON container while [CheckUTF8] walks a body.
type utf8Frame struct {
	path    string // the container's field name, "" at the top
	object  bool
	wantKey bool // in an object, the next string is a key
	index   int  // in an array, the index of the next element
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
