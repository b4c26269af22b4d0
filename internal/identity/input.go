package identity

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/logical"
	"github.com/coffer-secrets/coffer/internal/logical/framework"
)

// Limits on what one request may set.
const (
	// MaxNameBytes is the longest entity, group or alias name.
	MaxNameBytes = 512
	// MaxMetadataPairs is the most metadata keys one object may hold.
	MaxMetadataPairs = 64
	// MaxMetadataKeyBytes is the longest metadata key.
	MaxMetadataKeyBytes = 128
	// MaxMetadataValueBytes is the longest metadata value.
	MaxMetadataValueBytes = 512
	// MaxListItems is the most policies or member IDs one write may set.
	MaxListItems = 10000
)

// KVPairs is a string-to-string map given as a JSON object of strings, as
// a list of "key=value" strings (what Vault's command-line client sends
// for repeated metadata=key=value arguments) or as one "key=value" string
// (what it sends for a single one). It marshals as a JSON object.
type KVPairs map[string]string

// UnmarshalJSON implements [json.Unmarshaler]. null leaves p unchanged.
func (p *KVPairs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	bad := &json.UnmarshalTypeError{Value: "value", Type: reflect.TypeFor[KVPairs]()}
	switch {
	case len(b) > 0 && b[0] == '{':
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return bad
		}
		if m == nil {
			m = map[string]string{}
		}
		*p = m
	case len(b) > 0 && (b[0] == '[' || b[0] == '"'):
		var list []string
		if b[0] == '"' {
			list = []string{""}
			if err := json.Unmarshal(b, &list[0]); err != nil {
				return bad
			}
		} else if err := json.Unmarshal(b, &list); err != nil {
			return bad
		}
		m := make(map[string]string, len(list))
		for _, kv := range list {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return bad
			}
			m[k] = v
		}
		*p = m
	default:
		return bad
	}
	return nil
}

// checkName validates an entity, group or alias name; what names the kind
// in the error.
func checkName(what, name string) error {
	switch {
	case name == "":
		return logical.InvalidRequest("%s name must not be empty", what)
	case len(name) > MaxNameBytes:
		return logical.InvalidRequest("%s name is longer than %d bytes", what, MaxNameBytes)
	case !utf8.ValidString(name):
		return logical.InvalidRequest("%s name must be valid UTF-8", what)
	case strings.ContainsFunc(name, unicode.IsControl):
		return logical.InvalidRequest("%s name must not contain control characters", what)
	}
	return nil
}

// checkMetadata validates metadata against the size limits; field names
// the request field in the error. Errors never quote values.
func checkMetadata(field string, m map[string]string) error {
	if len(m) > MaxMetadataPairs {
		return logical.InvalidRequest("%s has %d keys; the limit is %d", field, len(m), MaxMetadataPairs)
	}
	for k, v := range m {
		switch {
		case k == "":
			return logical.InvalidRequest("%s keys must not be empty", field)
		case len(k) > MaxMetadataKeyBytes:
			return logical.InvalidRequest("%s keys must be at most %d bytes", field, MaxMetadataKeyBytes)
		case len(v) > MaxMetadataValueBytes:
			return logical.InvalidRequest("%s values must be at most %d bytes", field, MaxMetadataValueBytes)
		}
	}
	return nil
}

// metadataOf validates p and returns it as a map, or nil when it is empty.
func metadataOf(field string, p KVPairs) (map[string]string, error) {
	if err := checkMetadata(field, p); err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, nil
	}
	return p, nil
}

// normalizePolicies trims, lower-cases, de-duplicates and sorts policy
// names and drops empty ones, as ACL policy names are compared.
func normalizePolicies(in framework.CommaStrings) ([]string, error) {
	if len(in) > MaxListItems {
		return nil, logical.InvalidRequest("too many policies; the limit is %d", MaxListItems)
	}
	out := make([]string, 0, len(in))
	for _, p := range in {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// normalizeIDs trims, de-duplicates and sorts a list of IDs and drops
// empty ones; field names the request field in errors.
func normalizeIDs(field string, in framework.CommaStrings) ([]string, error) {
	if len(in) > MaxListItems {
		return nil, logical.InvalidRequest("too many %s; the limit is %d", field, MaxListItems)
	}
	out := make([]string, 0, len(in))
	for _, id := range in {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// sortedKeys returns the members of s in order.
func sortedKeys(s set) []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// nonNil returns s, or an empty slice when s is nil, so that JSON shows
// [] rather than null as Vault does for lists.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
