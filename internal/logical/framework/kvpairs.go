package framework

import (
	"encoding/json"
	"reflect"
	"strings"
)

// KVPairs is a map of string options given in any of Vault's forms for
// key/value pair fields (such as sys/audit's options): a JSON object whose
// values are strings (numbers and booleans are taken as their text), a
// list of "KEY=VALUE" strings, or one "KEY=VALUE" string, which is what
// `vault write sys/audit/file type=file options=file_path=/x` sends. A
// value may itself contain "="; only the first one splits. It marshals as a
// JSON object.
type KVPairs map[string]string

// UnmarshalJSON implements [json.Unmarshaler]. null leaves p unchanged.
// Errors are *json.UnmarshalTypeError so that decoding names the field;
// they never quote the submitted value.
func (p *KVPairs) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[KVPairs]()}
	out := KVPairs{}
	switch jsonKind(b) {
	case "object":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return bad
		}
		for k, raw := range m {
			v, ok := scalarText(raw)
			if !ok {
				return bad
			}
			out[k] = v
		}
	case "array":
		var list []string
		if err := json.Unmarshal(b, &list); err != nil {
			return bad
		}
		for _, pair := range list {
			if !out.addPair(pair) {
				return bad
			}
		}
	case "string":
		var s string
		if err := json.Unmarshal(b, &s); err != nil || !out.addPair(s) {
			return bad
		}
	default:
		return bad
	}
	*p = out
	return nil
}

// addPair adds "KEY=VALUE" to p; it reports false when pair has no "=" or
// an empty key.
func (p KVPairs) addPair(pair string) bool {
	k, v, ok := strings.Cut(pair, "=")
	if !ok || k == "" {
		return false
	}
	p[k] = v
	return true
}

// scalarText returns the text of a JSON string, number or boolean.
func scalarText(raw json.RawMessage) (string, bool) {
	switch jsonKind(raw) {
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
		return s, true
	case "number", "bool":
		return strings.TrimSpace(string(raw)), true
	}
	return "", false
}
