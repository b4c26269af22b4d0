package azureapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// FuzzParseRoute: any request line parses or fails with a 4xx, never
// panics, and a parsed one names a valid secret and version.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{"/secrets", "/secrets/a", "/secrets/a/", "/secrets/a/versions", "/secrets/a/" + VersionID(7),
		"/deletedsecrets/a/recover", "/secrets//", "/secrets/a/b/c", "/secrets/%2e", "/secrets/" + strings.Repeat("0", 32)} {
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE", "POST"} {
			f.Add(m, s)
		}
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		rt, err := parseRoute(method, path)
		if err != nil {
			if ae, known := toAPI(err); !known || ae.status < 400 || ae.status > 499 {
				t.Fatalf("parseRoute(%q, %q) error %v is not a known 4xx", method, path, err)
			}
			return
		}
		if !Served(path) {
			t.Fatalf("parseRoute(%q, %q) parsed a path Served refuses", method, path)
		}
		if rt.name != "" && checkName(rt.name) != nil {
			t.Fatalf("parseRoute(%q, %q) name %q is invalid", method, path, rt.name)
		}
		if rt.version != 0 {
			if n, err := ParseVersionID(VersionID(rt.version)); err != nil || n != rt.version {
				t.Fatalf("version %d does not round-trip: %d, %v", rt.version, n, err)
			}
		}
	})
}

// FuzzDecodeInput: any body decodes or fails with BadParameter, and
// what decodes encodes as version metadata within the limit or fails
// the same way.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range []string{`{"value":"v"}`, `{"value":"v","contentType":"text/plain","tags":{"a":"b"},"attributes":{"enabled":false,"nbf":1,"exp":2}}`,
		`{}`, `[]`, `{"value":5}`, `{"tags":{"a":null}}`, `{"attributes":{"exp":1.5}}`, ``, `null`, `{"value":"v"} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := decodeInput(body)
		if err != nil {
			if ae, known := toAPI(err); !known || ae.status != 400 {
				t.Fatalf("decodeInput(%q) error %v is not a 400", body, err)
			}
			return
		}
		var vm versionMeta
		in.apply(&vm)
		enc, err := vm.encode()
		if err != nil {
			if ae, _ := toAPI(err); ae.status != 400 {
				t.Fatalf("encode error %v is not a 400", err)
			}
			return
		}
		if enc != nil {
			if len(*enc) > maxMetaBytes {
				t.Fatalf("encoded metadata is %d bytes", len(*enc))
			}
			back := metaOf(map[string]string{metaPrefix + "1": *enc}, 1)
			if back.ContentType != vm.ContentType || back.Disabled != vm.Disabled || len(back.Tags) != len(vm.Tags) {
				t.Fatalf("metadata %s does not round-trip: %+v, want %+v", *enc, back, vm)
			}
		}
	})
}
