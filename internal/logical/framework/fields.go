package framework

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-secrets/coffer/internal/duration"
)

// Duration is a non-negative length of time in a request or response body.
// It accepts Vault's forms: an integer number of seconds (10), a string of
// digits meaning seconds ("10"), a Go duration string ("30s", "5m",
// "768h", "1h30m"), a whole number of days ("7d") or "" for zero. Negative
// values are rejected. It marshals as a Go duration string ("1h0m0s",
// "0s"), which is how Vault reports durations such as KV's
// delete_version_after.
type Duration time.Duration

// UnmarshalJSON implements [json.Unmarshaler]. null leaves d unchanged.
// Errors are *json.UnmarshalTypeError so that decoding names the field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[Duration]()}
	var v time.Duration
	var ok bool
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		v, ok = ParseDuration(s)
	} else if len(b) > 0 && strings.TrimLeft(string(b), "0123456789") == "" {
		// A JSON number: whole seconds only (-1, 1.5 and 1e3 are refused).
		d, err := duration.Parse(string(b))
		v, ok = d, err == nil
	}
	if !ok {
		return bad
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements [json.Marshaler], writing a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, time.Duration(d).String()), nil
}

// ParseDuration parses the string forms [Duration] accepts with
// [duration.Parse], except that "" (or only spaces) means zero, as it does
// in API bodies. ok is false for anything else.
func ParseDuration(s string) (d time.Duration, ok bool) {
	if strings.TrimSpace(s) == "" {
		return 0, true
	}
	d, err := duration.Parse(s)
	return d, err == nil
}

// CommaStrings is a list of strings given either as a JSON array of
// strings or as one comma-separated string ("a, b,c"). In the string form
// each item is trimmed of spaces and empty items are dropped. It marshals
// as a JSON array.
type CommaStrings []string

// UnmarshalJSON implements [json.Unmarshaler]. null leaves c unchanged.
func (c *CommaStrings) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[CommaStrings]()}
	switch {
	case len(b) > 0 && b[0] == '[':
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return bad
		}
		*c = list
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		out := []string{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		*c = out
	default:
		return bad
	}
	return nil
}

// Int is an integer given as a JSON number or as a string of digits
// ("5"), as Vault's command-line client sends for `vault write k=v`. It
// marshals as a JSON number.
type Int int64

// UnmarshalJSON implements [json.Unmarshaler]. null leaves i unchanged.
func (i *Int) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[Int]()}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
		s = strings.TrimSpace(s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return bad
	}
	*i = Int(n)
	return nil
}

// Bool is a boolean given as a JSON boolean or as a string that
// [strconv.ParseBool] accepts ("true", "false", "1", "0", ...). It marshals
// as a JSON boolean.
type Bool bool

// UnmarshalJSON implements [json.Unmarshaler]. null leaves v unchanged.
func (v *Bool) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		return nil
	case "true":
		*v = true
		return nil
	case "false":
		*v = false
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[Bool]()}
	if len(b) == 0 || b[0] != '"' {
		return bad
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return bad
	}
	p, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		return bad
	}
	*v = Bool(p)
	return nil
}

// jsonKind names the kind of JSON value b starts with, for type errors.
func jsonKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}
