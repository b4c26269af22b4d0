package framework

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKVPairsUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    KVPairs
		wantErr bool
	}{
		{`{"file_path":"/x","mode":"0600"}`, KVPairs{"file_path": "/x", "mode": "0600"}, false},
		{`{"n":5,"b":true}`, KVPairs{"n": "5", "b": "true"}, false},
		{`{}`, KVPairs{}, false},
		{`"file_path=/x"`, KVPairs{"file_path": "/x"}, false},
		{`"a=b=c"`, KVPairs{"a": "b=c"}, false},
		{`"a="`, KVPairs{"a": ""}, false},
		{`["a=1","b=2"]`, KVPairs{"a": "1", "b": "2"}, false},
		{`[]`, KVPairs{}, false},
		{`"novalue"`, nil, true},
		{`"=v"`, nil, true},
		{`""`, nil, true},
		{`["a=1","bad"]`, nil, true},
		{`[1]`, nil, true},
		{`{"a":{"b":"c"}}`, nil, true},
		{`{"a":["b"]}`, nil, true},
		{`{"a":null}`, nil, true},
		{`5`, nil, true},
		{`true`, nil, true},
	}
	for _, tt := range tests {
		var got KVPairs
		err := json.Unmarshal([]byte(tt.in), &got)
		if (err != nil) != tt.wantErr {
			t.Errorf("Unmarshal(%s) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && !cmp.Equal(got, tt.want) {
			t.Errorf("Unmarshal(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestKVPairsInBody checks the field in a typed body: null leaves it unset
// and a bad value names the field and the accepted forms.
func TestKVPairsInBody(t *testing.T) {
	t.Parallel()
	var in struct {
		Options KVPairs `json:"options"`
	}
	if err := DecodeBody(json.RawMessage(`{"options":null}`), &in); err != nil || in.Options != nil {
		t.Fatalf("DecodeBody(null) = %v, options %v; want no error, nil", err, in.Options)
	}
	err := DecodeBody(json.RawMessage(`{"options":"secret-without-equals"}`), &in)
	if err == nil {
		t.Fatal("DecodeBody(bad pair) = nil, want an error")
	}
	const want = `invalid value for "options": want an object of strings, or "KEY=VALUE" strings`
	if err.Error() != want {
		t.Errorf("DecodeBody(bad pair) = %q, want %q", err, want)
	}
}

// FuzzKVPairs checks that any body member decodes without panicking, and
// that whatever decodes marshals to an object that decodes to the same
// pairs.
func FuzzKVPairs(f *testing.F) {
	for _, seed := range []string{`{"file_path":"/x","mode":600}`, `["a=b","c=d=e"]`, `"file_path=/var/log/a"`, `null`, `"=x"`, `[1]`, `{"a":{}}`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var p KVPairs
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			return
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatalf("Marshal(%v): %v", p, err)
		}
		var again KVPairs
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("Unmarshal(%s) of a marshalled KVPairs: %v", out, err)
		}
		if !maps.Equal(p, again) {
			t.Fatalf("round trip of %q: %v, then %v", in, p, again)
		}
	})
}
