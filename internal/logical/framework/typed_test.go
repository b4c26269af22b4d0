package framework

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/coffer-secrets/coffer/internal/logical"
)

type testOptions struct {
	CAS *int `json:"cas"`
}

type testEmbedded struct {
	Extra string `json:"extra"`
}

type testInput struct {
	testEmbedded
	MaxVersions int               `json:"max_versions"`
	CASRequired Bool              `json:"cas_required"`
	After       Duration          `json:"delete_version_after"`
	Policies    CommaStrings      `json:"policies"`
	Custom      map[string]string `json:"custom_metadata"`
	Options     testOptions       `json:"options"`
	Data        json.RawMessage   `json:"data"`
	Ignored     string            `json:"-"`
	NoTag       string
	//lint:ignore U1000 present only to prove the decoder refuses a member named after an unexported field
	unexported string
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	five := 5
	tests := []struct {
		name    string
		body    string
		want    testInput
		wantMsg string // non-empty: want an ErrInvalidRequest with this message
	}{
		{name: "empty", body: ""},
		{name: "whitespace", body: " \n\t"},
		{name: "null", body: "null"},
		{name: "empty object", body: "{}"},
		{
			name: "all fields",
			body: `{"max_versions":3,"cas_required":"true","delete_version_after":"1h","policies":"a, b,,c",` +
				`"custom_metadata":{"k":"v"},"options":{"cas":5},"data":{"x":1},"extra":"e","NoTag":"n"}`,
			want: testInput{
				testEmbedded: testEmbedded{Extra: "e"},
				MaxVersions:  3, CASRequired: true, After: Duration(time.Hour),
				Policies: CommaStrings{"a", "b", "c"}, Custom: map[string]string{"k": "v"},
				Options: testOptions{CAS: &five}, Data: json.RawMessage(`{"x":1}`), NoTag: "n",
			},
		},
		{name: "unknown field", body: `{"foo":1}`, wantMsg: `unknown field "foo"`},
		{name: "unknown nested field", body: `{"options":{"cas":1,"bogus":2}}`, wantMsg: `unknown field "options.bogus"`},
		{name: "case matters", body: `{"MAX_VERSIONS":1}`, wantMsg: `unknown field "MAX_VERSIONS"`},
		{name: "dash-ignored field", body: `{"Ignored":"x"}`, wantMsg: `unknown field "Ignored"`},
		{name: "unexported field", body: `{"unexported":"x"}`, wantMsg: `unknown field "unexported"`},
		{name: "first unknown in order", body: `{"zz":1,"aa":2}`, wantMsg: `unknown field "aa"`},
		{name: "wrong type int", body: `{"max_versions":"many"}`, wantMsg: `invalid value for "max_versions": want an integer`},
		{name: "fraction for int", body: `{"max_versions":1.5}`, wantMsg: `invalid value for "max_versions": want an integer`},
		{name: "wrong type bool", body: `{"cas_required":"perhaps"}`, wantMsg: `invalid value for "cas_required": want a boolean`},
		{name: "negative duration", body: `{"delete_version_after":"-5s"}`, wantMsg: `invalid value for "delete_version_after": want a non-negative duration (integer seconds or a string such as "30s")`},
		{name: "nested wrong type", body: `{"options":{"cas":"x"}}`, wantMsg: `invalid value for "options.cas": want an integer`},
		{name: "nested not object", body: `{"options":3}`, wantMsg: `invalid value for "options": want an object`},
		{name: "map value type", body: `{"custom_metadata":{"a":1}}`, wantMsg: `invalid value for "custom_metadata": want a string`},
		{name: "array body", body: `[1,2]`, wantMsg: "request body must be a JSON object"},
		{name: "string body", body: `"x"`, wantMsg: "request body must be a JSON object"},
		{name: "syntax error", body: `{"max_versions":`, wantMsg: "malformed JSON body"},
		{name: "trailing data", body: `{} {}`, wantMsg: "malformed JSON body"},
		{name: "trailing garbage", body: `{}x`, wantMsg: "malformed JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got testInput
			err := DecodeBody(json.RawMessage(tt.body), &got)
			if tt.wantMsg != "" {
				var le *logical.Error
				if !errors.As(err, &le) || !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("DecodeBody(%q) error = %v, want ErrInvalidRequest", tt.body, err)
				}
				if le.Msg != tt.wantMsg {
					t.Errorf("DecodeBody(%q) message = %q, want %q", tt.body, le.Msg, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeBody(%q) error = %v", tt.body, err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(testInput{})); diff != "" {
				t.Errorf("DecodeBody(%q) mismatch (-want +got):\n%s", tt.body, diff)
			}
		})
	}
}

func TestDecodeBodyNeverQuotesValue(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	bodies := []string{
		`{"max_versions":"` + secret + `"}`,
		`{"cas_required":"` + secret + `"}`,
		`{"delete_version_after":"` + secret + `"}`,
		`{"options":{"cas":"` + secret + `"}}`,
		`{"max_versions":` + secret + `}`,
	}
	for _, body := range bodies {
		var in testInput
		err := DecodeBody(json.RawMessage(body), &in)
		if err == nil {
			t.Fatalf("DecodeBody(%q) = nil, want error", body)
		}
		var le *logical.Error
		if !errors.As(err, &le) {
			t.Fatalf("DecodeBody(%q) error %T, want *logical.Error", body, err)
		}
		if got := le.Msg; contains(got, secret) || contains(got, "hunter") {
			t.Errorf("DecodeBody(%q) client message %q quotes the value", body, got)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestDecodeBodyNonStruct(t *testing.T) {
	t.Parallel()
	var m map[string]any
	if err := DecodeBody(json.RawMessage(`{"anything":[1,{"b":null}]}`), &m); err != nil {
		t.Fatalf("DecodeBody into map error = %v", err)
	}
	if diff := cmp.Diff(map[string]any{"anything": []any{1.0, map[string]any{"b": nil}}}, m); diff != "" {
		t.Errorf("DecodeBody into map mismatch (-want +got):\n%s", diff)
	}
	if err := DecodeBody(json.RawMessage(`[1]`), &m); !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("DecodeBody array into map error = %v, want ErrInvalidRequest", err)
	}
}

type recursive struct {
	Name  string     `json:"name"`
	Child *recursive `json:"child"`
}

func TestDecodeBodyRecursiveType(t *testing.T) {
	t.Parallel()
	var r recursive
	err := DecodeBody(json.RawMessage(`{"name":"a","child":{"name":"b","child":{"name":"c"}}}`), &r)
	if err != nil {
		t.Fatalf("DecodeBody error = %v", err)
	}
	if r.Child == nil || r.Child.Child == nil || r.Child.Child.Name != "c" {
		t.Errorf("DecodeBody recursive = %+v", r)
	}
	err = DecodeBody(json.RawMessage(`{"child":{"nope":1}}`), &r)
	if !errors.Is(err, logical.ErrInvalidRequest) {
		t.Errorf("DecodeBody unknown nested field in recursive type error = %v, want ErrInvalidRequest", err)
	}
}

func TestTyped(t *testing.T) {
	t.Parallel()
	type in struct {
		N int `json:"n"`
	}
	called := 0
	h := Typed(func(_ context.Context, _ *logical.Request, m *Match, v *in) (*logical.Response, error) {
		called++
		return &logical.Response{Data: v.N}, nil
	})
	resp, err := h(t.Context(), &logical.Request{Body: json.RawMessage(`{"n":4}`)}, nil)
	if err != nil || resp.Data != 4 {
		t.Fatalf("Typed handler = %v, %v, want data 4", resp, err)
	}
	_, err = h(t.Context(), &logical.Request{Body: json.RawMessage(`{"m":4}`)}, nil)
	if !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("Typed handler with unknown field error = %v, want ErrInvalidRequest", err)
	}
	if called != 1 {
		t.Errorf("handler called %d times, want 1 (not on a bad body)", called)
	}
	resp, err = h(t.Context(), &logical.Request{}, nil)
	if err != nil || resp.Data != 0 {
		t.Errorf("Typed handler with no body = %v, %v, want zero input", resp, err)
	}
}
