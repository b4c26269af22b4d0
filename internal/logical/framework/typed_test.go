package framework

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
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
	OCSP        Unsupported  `json:"ocsp_enabled"`
	Bound       Unsupported  `json:"bound"`
	Other       *Unsupported `json:"other"`
	//lint:ignore U1000 present only to prove the decoder refuses a member named after an unexported field
	unexported string
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	five, one := 5, 1
	tests := []struct {
		name    string
		body    string
		want    testInput
		wantMsg string // non-empty: want an ErrInvalidRequest with this message
		// wantIgnored are the member names DecodeBodyIgnored reports.
		wantIgnored []string
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
		{name: "unknown field", body: `{"foo":1,"max_versions":2}`, want: testInput{MaxVersions: 2}, wantIgnored: []string{"foo"}},
		{name: "unknown nested field", body: `{"options":{"cas":1,"bogus":2}}`, want: testInput{Options: testOptions{CAS: &one}}, wantIgnored: []string{"options.bogus"}},
		{name: "case matters", body: `{"MAX_VERSIONS":1}`, wantIgnored: []string{"MAX_VERSIONS"}},
		{name: "case variant does not override", body: `{"max_versions":1,"Max_Versions":7}`, want: testInput{MaxVersions: 1}, wantIgnored: []string{"Max_Versions"}},
		{name: "dash-ignored field", body: `{"Ignored":"x"}`, wantIgnored: []string{"Ignored"}},
		{name: "unexported field", body: `{"unexported":"x"}`, wantIgnored: []string{"unexported"}},
		{name: "several unknown, sorted", body: `{"zz":1,"aa":2,"options":{"b":3}}`, wantIgnored: []string{"aa", "options.b", "zz"}},
		{name: "unknown member of the wrong type", body: `{"zz":{"a":[1]}}`, wantIgnored: []string{"zz"}},
		{name: "unsupported zero values", body: `{"ocsp_enabled":false,"bound":[],"other":null}`},
		{name: "unsupported empty string", body: `{"bound":""}`},
		{name: "unsupported set", body: `{"ocsp_enabled":true}`, wantMsg: `parameter "ocsp_enabled" is not supported by this server`},
		{name: "unsupported list", body: `{"bound":["10.0.0.0/8"]}`, wantMsg: `parameter "bound" is not supported by this server`},
		{name: "wrong type int", body: `{"max_versions":"many"}`, wantMsg: `invalid value for "max_versions": want an integer`},
		{name: "fraction for int", body: `{"max_versions":1.5}`, wantMsg: `invalid value for "max_versions": want an integer`},
		{name: "wrong type bool", body: `{"cas_required":"perhaps"}`, wantMsg: `invalid value for "cas_required": want a boolean`},
		{name: "negative duration", body: `{"delete_version_after":"-5s"}`, wantMsg: `invalid value for "delete_version_after": want a non-negative duration (integer seconds or a string such as "30s")`},
		{name: "nested wrong type", body: `{"options":{"cas":"x"}}`, wantMsg: `invalid value for "options.cas": want an integer`},
		{name: "embedded wrong type", body: `{"extra":1}`, wantMsg: `invalid value for "extra": want a string`},
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
			ignored, err := DecodeBodyIgnored(json.RawMessage(tt.body), &got)
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
			if diff := cmp.Diff(tt.wantIgnored, ignored); diff != "" {
				t.Errorf("DecodeBody(%q) ignored mismatch (-want +got):\n%s", tt.body, diff)
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
		`{"ocsp_enabled":"` + secret + `"}`,
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
	ignored, err := DecodeBodyIgnored(json.RawMessage(`{"child":{"nope":1}}`), &r)
	if err != nil || !slices.Equal(ignored, []string{"child.nope"}) {
		t.Errorf("DecodeBody unknown nested field in recursive type = %v, %v, want ignored [child.nope]", ignored, err)
	}
}

func TestTyped(t *testing.T) {
	t.Parallel()
	type in struct {
		N int `json:"n"`
	}
	b := &Backend{Paths: []*Path{{
		Pattern: `keys/(?P<name>[^/]+)`,
		Operations: map[logical.Operation]Handler{
			logical.UpdateOperation: Typed(func(_ context.Context, _ *logical.Request, m *Match, v *in) (*logical.Response, error) {
				if v.N < 0 {
					return nil, nil
				}
				return &logical.Response{Data: v.N, Warnings: []string{"own"}}, nil
			}),
		},
	}}}
	tests := []struct {
		name         string
		body         string
		wantData     any
		wantWarnings []string
		wantNil      bool
		wantErr      error
	}{
		{name: "known", body: `{"n":4}`, wantData: 4, wantWarnings: []string{"own"}},
		{name: "no body", wantData: 0, wantWarnings: []string{"own"}},
		{name: "unknown", body: `{"n":4,"z":1,"a":2}`, wantData: 4, wantWarnings: []string{"own", "Endpoint ignored these unrecognized parameters: [a z]"}},
		{name: "capture repeated in the body", body: `{"name":"k","n":1}`, wantData: 1,
			wantWarnings: []string{"own", "Endpoint replaced the value of these parameters with the values captured from the endpoint's path: [name]"}},
		{name: "nil response keeps no warning", body: `{"n":-1,"z":1}`, wantNil: true},
		{name: "wrong type", body: `{"n":"x","z":1}`, wantErr: logical.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := b.HandleRequest(t.Context(), &logical.Request{Operation: logical.UpdateOperation, Path: "keys/k", Body: json.RawMessage(tt.body)})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantNil {
				if resp != nil {
					t.Fatalf("response = %+v, want nil", resp)
				}
				return
			}
			if resp.Data != tt.wantData {
				t.Errorf("data = %v, want %v", resp.Data, tt.wantData)
			}
			if diff := cmp.Diff(tt.wantWarnings, resp.Warnings); diff != "" {
				t.Errorf("warnings mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeBodyShallowFieldHidesEmbedded(t *testing.T) {
	t.Parallel()
	type roleInput struct {
		Period *Duration `json:"period"`
		TokenParamsUpdate
	}
	tests := []struct {
		name    string
		body    string
		wantMsg string
	}{
		{name: "honored deprecated name", body: `{"period":"1h"}`},
		{name: "refused deprecated name", body: `{"ttl":"1h"}`, wantMsg: `parameter "ttl" is not supported by this server`},
		{name: "refused deprecated bound", body: `{"bound_cidrs":"10.0.0.0/8"}`, wantMsg: `parameter "bound_cidrs" is not supported by this server`},
		{name: "zero deprecated value", body: `{"num_uses":0,"max_ttl":""}`},
		{name: "embedded field named by its member", body: `{"token_ttl":"junk"}`, wantMsg: `invalid value for "token_ttl": want a non-negative duration (integer seconds or a string such as "30s")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var in roleInput
			err := DecodeBody(json.RawMessage(tt.body), &in)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("DecodeBody(%s) = %v", tt.body, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg {
				t.Fatalf("DecodeBody(%s) = %v, want %q", tt.body, err, tt.wantMsg)
			}
		})
	}
	var in roleInput
	if err := DecodeBody(json.RawMessage(`{"period":"1h"}`), &in); err != nil || in.Period == nil || *in.Period != Duration(time.Hour) {
		t.Errorf("period = %v, %v; want 1h in the shallow field", in.Period, err)
	}
}
