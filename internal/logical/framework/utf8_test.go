package framework

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/coffer-secrets/coffer/internal/logical"
)

func TestCheckUTF8(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string // "" for no error, else words the error must contain
	}{
		{"ascii", `{"a":"b","c":[1,"d",{"e":null}]}`, ""},
		{"valid multibyte", `{"clé":"välue ☃"}`, ""},
		{"top value", "{\"password\":\"a\xffb\"}", `field "password"`},
		{"nested value", "{\"data\":{\"x\":1,\"pw\":\"\xc3\"}}", `field "data.pw"`},
		{"array element", "{\"data\":{\"l\":[\"ok\",true,\"\xfe\"]}}", `field "data.l[2]"`},
		{"after nested object", "{\"a\":{\"b\":{}},\"c\":\"\xff\"}", `field "c"`},
		{"after nested array", "{\"a\":[[1],[2]],\"b\":[\"x\",[],\"\xff\"]}", `field "b[2]"`},
		{"top key", "{\"k\xff\":1}", "invalid UTF-8 in a field name"},
		{"nested key", "{\"data\":{\"k\xff\":1}}", `field name under "data"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckUTF8([]byte(tt.body))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckUTF8(%q) = %v, want nil", tt.body, err)
				}
				return
			}
			if err == nil || !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckUTF8(%q) = %v, want an invalid request containing %q", tt.body, err, tt.want)
			}
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("CheckUTF8(%q) error %q repeats the bad bytes", tt.body, err)
			}
		})
	}
}

// FuzzCheckUTF8 checks that a valid JSON body is refused exactly when it
// is not valid UTF-8, and that the walk never panics.
func FuzzCheckUTF8(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, "{\"a\":[\"\xff\"]}", "{\"\xff\":{}}", `{"a":{"b":[{"c":"d"}]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		err := CheckUTF8(body)
		if (err == nil) != utf8.Valid(body) {
			t.Fatalf("CheckUTF8(%q) = %v, but utf8.Valid is %v", body, err, utf8.Valid(body))
		}
	})
}
