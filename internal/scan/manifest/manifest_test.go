package manifest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []Value
		wantErr bool
	}{
		{"multi-document", `apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data:
  password: not-a-secret-kind
---
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
data:
  password: aHVudGVyMmh1bnRlcjI=
  bad: "!!!"
stringData:
  token: plain-token-value
`, []Value{
			{Namespace: "prod", Name: "db", Key: "password", Value: []byte("hunter2hunter2"), Line: 13},
			{Namespace: "prod", Name: "db", Key: "bad", Line: 14, Problem: "the data value is not valid base64"},
			{Namespace: "prod", Name: "db", Key: "token", Value: []byte("plain-token-value"), Line: 16, StringData: true},
		}, false},
		{"list", `apiVersion: v1
items:
- apiVersion: v1
  data:
    api-key: c2stbGl2ZS0xMjM0NTY3OA==
  kind: Secret
  metadata:
    name: api
    namespace: default
  type: Opaque
kind: List
metadata:
  resourceVersion: ""
`, []Value{{Namespace: "default", Name: "api", Key: "api-key", Value: []byte("sk-live-12345678"), Line: 5}}, false},
		{"json", `{"kind":"Secret","metadata":{"name":"j"},"data":{"k":"dmFsdWUtdmFsdWU="}}`,
			[]Value{{Name: "j", Key: "k", Value: []byte("value-value"), Line: 1}}, false},
		{"aliases", `x-common: &pw aHVudGVyMmh1bnRlcjI=
x-meta: &meta {name: al, namespace: ns}
x-shared: &shared
  shared-key: c2hhcmVkLXZhbHVl
  password: b3ZlcnJpZGRlbg==
kind: Secret
metadata: *meta
data:
  <<: *shared
  password: *pw
  nested: {a: b}
`, []Value{
			{Namespace: "ns", Name: "al", Key: "shared-key", Value: []byte("shared-value"), Line: 4},
			{Namespace: "ns", Name: "al", Key: "password", Value: []byte("overridden"), Line: 5},
			{Namespace: "ns", Name: "al", Key: "password", Value: []byte("hunter2hunter2"), Line: 10},
			{Namespace: "ns", Name: "al", Key: "nested", Line: 11, Problem: "the value is not a string"},
		}, false},
		{"not yaml", "key: [unclosed\n", nil, true},
		{"empty", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Secrets([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Secrets: err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Secrets (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzSecrets(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("kind: Secret\ndata: {a: YWFhYWFhYWFh}\n---\nkind: List\nitems: [{kind: Secret, stringData: {b: c}}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("kind: Secret\ndata: &d {<<: *d, a: *d}\n"))
	f.Add([]byte("x: &a {k: YWFhYWFhYWFh}\ny: &b {<<: [*a, *a, *a]}\nkind: Secret\ndata: {<<: [*b, *b, *b]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, _ := Secrets(data)
		for _, v := range vals {
			if v.Line < 1 {
				t.Fatalf("value %q at line %d", v.Key, v.Line)
			}
		}
	})
}
