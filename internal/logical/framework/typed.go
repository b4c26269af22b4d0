package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TypedHandler is a handler whose request body has been decoded into in.
type TypedHandler[T any] func(ctx context.Context, req *logical.Request, m *Match, in *T) (*logical.Response, error)

// Typed turns fn into a [Handler] that first decodes req.Body into a new T
// with [DecodeBodyIgnored]'s rules. A body that does not decode is answered
// with an [logical.ErrInvalidRequest] error naming the field and fn is not
// called. T's field layout is inspected once, when Typed is called.
//
// Members T does not know are ignored, as Vault ignores them: a member
// named after one of the path's captures (a client repeating the URL's
// "name" in the body, say) yields to the capture, and any other is named in
// the [IgnoredWarning] added to fn's response. As in Vault, a nil response
// (answered 204) carries no warning.
func Typed[T any](fn TypedHandler[T]) Handler {
	s := schemaFor(reflect.TypeFor[T](), nil)
	return func(ctx context.Context, req *logical.Request, m *Match) (*logical.Response, error) {
		var in T
		ignored, err := decode(req.Body, s, &in)
		if err != nil {
			return nil, err
		}
		resp, err := fn(ctx, req, m, &in)
		if err != nil || resp == nil || len(ignored) == 0 {
			return resp, err
		}
		var unknown, replaced []string
		for _, name := range ignored {
			if m.has(name) {
				replaced = append(replaced, name)
			} else {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			resp.Warnings = append(resp.Warnings, IgnoredWarning(unknown))
		}
		if len(replaced) > 0 {
			resp.Warnings = append(resp.Warnings, replacedWarning(replaced))
		}
		return resp, nil
	}
}

// IgnoredWarning is Vault's warning for request members an endpoint does
// not know and ignored, in Vault's words (clients and people match them):
// "Endpoint ignored these unrecognized parameters: [a b]".
func IgnoredWarning(names []string) string {
	return fmt.Sprintf("Endpoint ignored these unrecognized parameters: %v", names)
}

// replacedWarning is Vault's warning for body members that a path capture
// of the same name overrode.
func replacedWarning(names []string) string {
	return fmt.Sprintf("Endpoint replaced the value of these parameters with the values captured from the endpoint's path: %v", names)
}

// DecodeBody decodes a JSON request body into v, a non-nil pointer, with
// [DecodeBodyIgnored]'s rules, and drops the names of the members it
// ignored. Use it where no warning can reach the client.
func DecodeBody(body json.RawMessage, v any) error {
	_, err := DecodeBodyIgnored(body, v)
	return err
}

// DecodeBodyIgnored decodes a JSON request body into v, a non-nil pointer,
// and returns the sorted names of the members it ignored.
//
// An empty body (or "null") leaves v untouched. When v points to a struct,
// the body must be one JSON object, with no trailing data. A member whose
// name is not exactly the json name of a field (names are case-sensitive
// here, unlike encoding/json's default) is ignored, as Vault ignores it,
// and named in ignored; in nested structs too, as "outer.inner". A member
// of type [Unsupported] with a value other than a zero one is refused.
// Errors are [logical.ErrInvalidRequest] errors whose message names the
// offending field and what it should be; they never quote the submitted
// value.
func DecodeBodyIgnored(body json.RawMessage, v any) (ignored []string, err error) {
	return decode(body, schemaFor(reflect.TypeOf(v), nil), v)
}

// Unsupported is the type of a request member that Vault knows and Coffer
// does not implement, where ignoring a value would silently drop a
// restriction the caller asked for (an OCSP check, a CIDR bound). A zero
// value (null, false, 0, "", [] or {}) is accepted and means nothing,
// since tools send defaults for every field; any other value is an
// [logical.ErrInvalidRequest] error naming the member. Declare it as a
// field of the body struct:
//
//	OCSPEnabled framework.Unsupported `json:"ocsp_enabled"`
type Unsupported struct{}

// UnmarshalJSON implements [json.Unmarshaler]; the decoder has checked the
// value already.
func (*Unsupported) UnmarshalJSON([]byte) error { return nil }

// schema lists the JSON member names a struct accepts. A nil *schema means
// "do not check member names" (maps, scalars, custom unmarshalers).
type schema struct {
	fields map[string]*schema
	// unsupported holds the names of the members of type Unsupported.
	unsupported map[string]bool
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	unsupportedType = reflect.TypeFor[Unsupported]()
)

// schemaFor builds the schema of t. built holds the schemas made so far in
// this walk, so a recursive type points back at its own schema.
func schemaFor(t reflect.Type, built map[reflect.Type]*schema) *schema {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	if s, ok := built[t]; ok {
		return s
	}
	if built == nil {
		built = make(map[reflect.Type]*schema)
	}
	s := &schema{fields: make(map[string]*schema)}
	built[t] = s
	addFields(s, t, built, 0, make(map[string]int))
	return s
}

// addFields adds the fields of t, a struct embedded depth levels deep, to
// s. As in encoding/json, a field of a shallower struct hides one of the
// same name in an embedded struct; depths records the depth of each name
// added.
func addFields(s *schema, t reflect.Type, built map[reflect.Type]*schema, depth int, depths map[string]int) {
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(s, ft, built, depth+1, depths)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if d, ok := depths[name]; ok && d <= depth {
			continue
		}
		depths[name] = depth
		delete(s.unsupported, name)
		if ft == unsupportedType {
			if s.unsupported == nil {
				s.unsupported = make(map[string]bool)
			}
			s.unsupported[name] = true
		}
		s.fields[name] = schemaFor(ft, built)
	}
}

func decode(body json.RawMessage, s *schema, v any) ([]string, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil
	}
	var ignored []string
	if s != nil {
		var err error
		if body, ignored, err = prune(body, s, ""); err != nil {
			return nil, err
		}
		slices.Sort(ignored)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if s != nil && errors.As(err, &te) {
			te.Field = memberPath(te.Field, s)
		}
		return nil, bodyError(err)
	}
	return ignored, nil
}

// prune checks that raw is a JSON object and returns it without the
// members s does not know, recursively for members that are structs
// themselves, with the names of the members it removed. raw is returned
// as is when nothing was removed. Removing them (rather than letting
// encoding/json skip them) also keeps encoding/json from matching a
// member to a field case-insensitively.
func prune(raw []byte, s *schema, prefix string) ([]byte, []string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		if prefix == "" {
			return nil, nil, bodyError(err)
		}
		// A nested member of the wrong type is reported by the main
		// decode, which knows the field's type.
		return raw, nil, nil
	}
	// Sorted so that the error for several refused members is stable.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ignored []string
	for _, k := range keys {
		sub, ok := s.fields[k]
		if !ok {
			ignored = append(ignored, prefix+k)
			delete(obj, k)
			continue
		}
		v := obj[k]
		if s.unsupported[k] && !zeroJSON(v) {
			return nil, nil, logical.InvalidRequest("parameter %q is not supported by this server", prefix+k)
		}
		if sub == nil || len(v) == 0 || v[0] != '{' {
			continue
		}
		pruned, ign, err := prune(v, sub, prefix+k+".")
		if err != nil {
			return nil, nil, err
		}
		if len(ign) > 0 {
			obj[k] = pruned
			ignored = append(ignored, ign...)
		}
	}
	if len(ignored) == 0 {
		return raw, nil, nil
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, nil, bodyError(err)
	}
	return out, ignored, nil
}

// zeroJSON reports whether raw is null, false, 0, "", [] or {}.
func zeroJSON(raw json.RawMessage) bool {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case float64:
		return v == 0
	case string:
		return v == ""
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// memberPath turns the field path of an encoding/json error into the
// path of JSON member names: encoding/json puts the Go names of embedded
// structs in it ("settingsInput.max_versions"), which mean nothing to a
// client. Segments that are not members at their level are dropped.
func memberPath(field string, s *schema) string {
	var out []string
	for seg := range strings.SplitSeq(field, ".") {
		sub, ok := s.fields[seg]
		if !ok {
			continue
		}
		out = append(out, seg)
		if sub == nil {
			// A leaf: whatever follows is inside its value.
			break
		}
		s = sub
	}
	if len(out) == 0 {
		return field
	}
	return strings.Join(out, ".")
}

// bodyError turns an encoding/json error into a client-safe
// ErrInvalidRequest error. It never includes the submitted value.
func bodyError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "malformed JSON body", Err: err}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "request body must be a JSON object", Err: err}
		}
		return &logical.Error{
			Kind: logical.ErrInvalidRequest,
			Msg:  "invalid value for \"" + te.Field + "\": want " + describe(te.Type),
			Err:  err,
		}
	}
	return &logical.Error{Kind: logical.ErrInvalidRequest, Msg: "invalid request body", Err: err}
}

// describe names what a value of type t looks like in JSON.
func describe(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeFor[Duration]():
		return `a non-negative duration (integer seconds or a string such as "30s")`
	case reflect.TypeFor[CommaStrings]():
		return "a list of strings or a comma-separated string"
	case reflect.TypeFor[Int]():
		return "an integer"
	case reflect.TypeFor[Bool]():
		return "a boolean"
	case reflect.TypeFor[KVPairs]():
		return `an object of strings, or "KEY=VALUE" strings`
	case reflect.TypeFor[json.RawMessage]():
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a different type"
}
