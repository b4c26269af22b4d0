package awsapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzResolve checks SecretId parsing: no panic, and a resolved name is
// one checkName accepts and an ARN round-trips.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"prod/db", "arn:aws:secretsmanager:us-east-1:000000000000:secret:prod/db-AbC123", "arn:aws:secretsmanager:x:y:secret:-AbC123", "a//b", "../x", "arn:", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		ref, err := resolve(id)
		if err != nil {
			return
		}
		if checkName(ref.name) != nil {
			t.Fatalf("resolve(%q) = %q, which checkName refuses", id, ref.name)
		}
		if ref.suffix != "" {
			v := &view{name: ref.name, custom: map[string]string{mkSuffix: ref.suffix}}
			s := &session{h: &Handler{account: DefaultAccount}, region: "r"}
			back, err := resolve(s.arn(v))
			if err != nil || back.name != ref.name || back.suffix != ref.suffix {
				t.Fatalf("ARN of %q does not round-trip: %+v, %v", id, back, err)
			}
		}
	})
}

// FuzzDecode drives the body decoder and every operation's input type:
// no panic, and an error is always an AWS SerializationException.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{}`, `{"SecretId":"x"}`, `{"SecretBinary":"AAEC"}`, `{"SecretId":`, `[]`, `{"MaxResults":"x"}`, `{"Filters":[{"Key":1}]}`, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, in := range []any{&createInput{}, &getInput{}, &batchInput{}, &putInput{}, &updateInput{}, &stageInput{}, &listInput{}, &listVersionsInput{}, &deleteInput{}, &tagInput{}, &randomInput{}, &rotateInput{}} {
			if err := decode(body, in); err != nil {
				ae, ok := err.(*apiError)
				if !ok || ae.code != codeSerialization {
					t.Fatalf("decode(%q) = %v, want a SerializationException", body, err)
				}
			}
		}
	})
}

// FuzzValue checks that a value written through the API reads back byte
// for byte, and that any KV data reads as something.
func FuzzValue(f *testing.F) {
	f.Add("x", []byte{0, 1}, `{"a":1}`)
	f.Add(` {"k": "v"} `, []byte{}, `{"SecretString":"s"}`)
	f.Fuzz(func(t *testing.T, str string, bin []byte, kv string) {
		for _, sv := range []secretValue{{str: &str}, {binary: bin}} {
			b, err := json.Marshal(sv.toKV())
			if err != nil {
				t.Fatal(err)
			}
			var data map[string]json.RawMessage
			if err := json.Unmarshal(b, &data); err != nil {
				t.Fatal(err)
			}
			back, err := fromKV(data)
			if err != nil || !back.equal(sv) {
				if sv.str != nil && !isValidUTF8JSONString(str) {
					continue // JSON replaces invalid UTF-8; the API refuses it upstream
				}
				t.Fatalf("round trip of %+v = %+v, %v", sv, back, err)
			}
		}
		var data map[string]json.RawMessage
		if json.Unmarshal([]byte(kv), &data) == nil {
			if _, err := fromKV(data); err != nil {
				t.Fatalf("fromKV(%s) = %v", kv, err)
			}
		}
	})
}

func isValidUTF8JSONString(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s
}

// FuzzRegion checks the credential scope parser on any Authorization
// header: no panic, and a region of [a-z0-9-] only.
func FuzzRegion(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-3/secretsmanager/aws4_request, SignedHeaders=host, Signature=00")
	f.Add("Credential=////")
	f.Fuzz(func(t *testing.T, auth string) {
		r := &http.Request{Header: http.Header{"Authorization": {auth}}}
		got := region(r)
		if got == "" || strings.Trim(got, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			t.Fatalf("region(%q) = %q", auth, got)
		}
	})
}
