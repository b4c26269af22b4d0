package framework

import (
	"encoding/json"
	"errors"
	"runtime"
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
		{"object in arrays", "{\"a\":[1,[{\"b\":\"\xff\"}]]}", `field "a[1][0].b"`},
		{"key under arrays", "{\"a\":[{\"b\":[{\"k\xff\":1}]}]}", `field name under "a[0].b[0]"`},
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

// TestCheckUTF8DeepBodyBounded: a body nested thousands of levels deep
// with long keys (it is checked before any token is) costs memory in
// proportion to its size, not to size times depth (building every
// level's full path took 1.2 GiB for this 0.5 MB body).
func TestCheckUTF8DeepBodyBounded(t *testing.T) {
	key := strings.Repeat("k", 100)
	var b strings.Builder
	const depth = 5000
	for range depth {
		b.WriteString(`{"` + key + `":`)
	}
	b.WriteString("\"\xff\"")
	b.WriteString(strings.Repeat("}", depth))
	body := []byte(b.String())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := CheckUTF8(body)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, logical.ErrInvalidRequest) {
		t.Fatalf("CheckUTF8 = %v, want an invalid request", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("CheckUTF8 of a %d-byte body allocated %d MiB, want it linear in the body", len(body), got>>20)
	}
}
