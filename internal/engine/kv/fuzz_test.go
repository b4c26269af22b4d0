package kv

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// FuzzCompactData checks that secret data validation never panics, accepts
// only JSON objects, and counts top-level keys as a JSON decoder does.
func FuzzCompactData(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":{"b":"c:d"},"e":[1,{"f":2}]}`, `{"a\":b":"\\"}`, `[]`, `"x"`, `{`, ` {"a" : 1 } `, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := compactData(in)
		if err != nil {
			if !errors.Is(err, logical.ErrInvalidRequest) && !errors.Is(err, logical.ErrTooLarge) {
				t.Fatalf("compactData(%q) error = %v, want a typed error", in, err)
			}
			return
		}
		if !json.Valid(out) || out[0] != '{' {
			t.Fatalf("compactData(%q) = %q, not a JSON object", in, out)
		}
		if got, want := topLevelKeys(out), countMembers(t, out); got != want {
			t.Fatalf("topLevelKeys(%q) = %d, want %d", out, got, want)
		}
	})
}

// countMembers counts the members of a JSON object with a token decoder.
func countMembers(t *testing.T, obj []byte) int {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil { // the key
			t.Fatal(err)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// FuzzMergePatch checks that merging never panics and that the result is an
// object containing every non-null top-level member of the patch.
func FuzzMergePatch(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":{"c":2}}`), []byte(`{"a":null,"b":{"d":3}}`))
	f.Add([]byte(`{}`), []byte(`{"x":[1,2]}`))
	f.Add([]byte(`{"n":1e400}`), []byte(`{"n":null}`))
	f.Fuzz(func(t *testing.T, target, patch []byte) {
		tgt, err := compactData(target)
		if err != nil {
			return
		}
		pt, err := compactData(patch)
		if err != nil {
			return
		}
		merged, err := mergePatch(tgt, pt)
		if err != nil {
			return
		}
		var m, p map[string]any
		if err := unmarshalNumbers(merged, &m); err != nil {
			t.Fatalf("mergePatch(%s, %s) = %s, not an object: %v", tgt, pt, merged, err)
		}
		if err := unmarshalNumbers(pt, &p); err != nil {
			t.Fatal(err)
		}
		for k, v := range p {
			if _, ok := m[k]; ok != (v != nil) {
				t.Fatalf("mergePatch(%s, %s) = %s: member %q present %v", tgt, pt, merged, k, ok)
			}
		}
	})
}

func unmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// FuzzVersionList checks that version lists never panic and hold only
// positive numbers.
func FuzzVersionList(f *testing.F) {
	for _, s := range []string{`[1,2]`, `["1","2"]`, `"1,2, 3"`, `3`, `[-1]`, `{}`, `null`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var l versionList
		if err := json.Unmarshal(in, &l); err != nil {
			return
		}
		for _, n := range l {
			if n <= 0 {
				t.Fatalf("versionList(%q) = %v, holds a non-positive version", in, l)
			}
		}
	})
}
