package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// TypedHandler is a handler whose request body has been decoded into in.
type TypedHandler[T any] func(ctx context.Context, req *logical.Request, m *Match, in *T) (*logical.Response, error)

// Typed turns fn into a [Handler] that first decodes req.Body into a new T
// with [DecodeBody]'s rules. A body that does not decode is answered with an
// [logical.ErrInvalidRequest] error naming the field and fn is not called.
// T's field layout is inspected once, when Typed is called.
func Typed[T any](fn TypedHandler[T]) Handler {
	s := schemaFor(reflect.TypeFor[T](), nil)
	return func(ctx context.Context, req *logical.Request, m *Match) (*logical.Response, error) {
		var in T
		if err := decode(req.Body, s, &in); err != nil {
			return nil, err
		}
		return fn(ctx, req, m, &in)
	}
}

// DecodeBody decodes a JSON request body into v, a non-nil pointer.
//
// An empty body (or "null") leaves v untouched. When v points to a struct,
// the body must be one JSON object; a member whose name is not exactly the
// json name of a field (names are case-sensitive here, unlike
// encoding/json's default) is rejected, in nested structs too; trailing
// data after the object is rejected. Errors are [logical.ErrInvalidRequest]
// errors whose message names the offending field and what it should be;
// they never quote the submitted value.
func DecodeBody(body json.RawMessage, v any) error {
	return decode(body, schemaFor(reflect.TypeOf(v), nil), v)
}

// schema lists the JSON member names a struct accepts. A nil *schema means
// "do not check member names" (maps, scalars, custom unmarshalers).
type schema struct {
	fields map[string]*schema
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

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
	addFields(s, t, built)
	return s
}

func addFields(s *schema, t reflect.Type, built map[reflect.Type]*schema) {
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
				addFields(s, ft, built)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.fields[name] = schemaFor(ft, built)
	}
}

func decode(body json.RawMessage, s *schema, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if s != nil {
		if err := checkMembers(body, s, ""); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return bodyError(err)
	}
	return nil
}

// checkMembers verifies that raw is a JSON object whose members are all
// known to s, recursively for members that are structs themselves.
func checkMembers(raw []byte, s *schema, prefix string) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		if prefix == "" {
			return bodyError(err)
		}
		// A nested member of the wrong type is reported by the main
		// decode, which knows the field's type.
		return nil
	}
	// Sorted so that the error for several unknown members is stable.
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		sub, ok := s.fields[k]
		if !ok {
			return logical.InvalidRequest("unknown field %q", prefix+k)
		}
		if sub == nil {
			continue
		}
		if v := obj[k]; len(v) > 0 && v[0] == '{' {
			if err := checkMembers(v, sub, prefix+k+"."); err != nil {
				return err
			}
		}
	}
	return nil
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
