package csi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mode(m fs.FileMode) *fs.FileMode { return &m }

func TestParseObjects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []object
		err  string // a substring of the error; "" for success
	}{
		{
			name: "Vault's documented shape",
			in: `
- objectName: "db-password"
  secretPath: "secret/data/db-pass"
  secretKey: "password"
- objectName: tls/cert.pem
  secretPath: /v1/pki/issue/web
  method: PUT
  secretArgs:
    common_name: web.shop.svc
    ttl: 24h
  filePermission: 0600
  encoding: utf-8
`,
			want: []object{
				{name: "db-password", path: "secret/data/db-pass", key: "password", method: "GET"},
				{name: "tls/cert.pem", path: "pki/issue/web", method: "PUT", mode: mode(0o600),
					args: map[string]any{"common_name": "web.shop.svc", "ttl": "24h"}},
			},
		},
		{
			name: "flow style, modes as strings and decimals, encodings",
			in:   `[{objectName: a, secretPath: x/a, filePermission: "0640", encoding: BASE64}, {objectName: b, secretPath: x/b, filePermission: 420, encoding: hex, method: post}, {objectName: c, secretPath: x/c, filePermission: 0o400}]`,
			want: []object{
				{name: "a", path: "x/a", method: "GET", mode: mode(0o640), encoding: "base64"},
				{name: "b", path: "x/b", method: "POST", mode: mode(0o644), encoding: "hex"},
				{name: "c", path: "x/c", method: "GET", mode: mode(0o400)},
			},
		},
		{name: "empty", in: "  ", err: "parameter objects is required"},
		{name: "an empty list", in: "[]", err: "lists no objects"},
		{name: "not a list", in: "objectName: a", err: "not a YAML list"},
		{name: "two documents", in: "- {objectName: a, secretPath: x}\n---\n- {objectName: b, secretPath: y}", err: "more than one YAML document"},
		{name: "an unknown field", in: "- {objectName: a, secretPath: x, secretkey: y}", err: "field secretkey not found"},
		{name: "no name", in: "- {secretPath: x}", err: "objects[0]: an object has no objectName"},
		{name: "no path", in: "- {objectName: a}", err: `objectName "a" has no secretPath`},
		{name: "a duplicate name", in: "- {objectName: a, secretPath: x}\n- {objectName: a, secretPath: y}", err: `objects[1]: objectName "a" appears twice`},
		{name: "an absolute name", in: "- {objectName: /etc/passwd, secretPath: x}", err: "relative path"},
		{name: "a name climbing out", in: "- {objectName: a/../../b, secretPath: x}", err: "empty, . or .. path element"},
		{name: "a name starting with ..", in: "- {objectName: ..data, secretPath: x}", err: "relative path"},
		{name: "a path climbing out", in: "- {objectName: a, secretPath: secret/../sys/seal}", err: `has a ".." segment`},
		{name: "a path with a query", in: `- {objectName: a, secretPath: "secret/data/x?version=1"}`, err: "contains one of"},
		{name: "a bad method", in: "- {objectName: a, secretPath: x, method: DELETE}", err: `method "DELETE"`},
		{name: "a bad encoding", in: "- {objectName: a, secretPath: x, encoding: rot13}", err: `encoding "rot13"`},
		{name: "a mode too wide", in: "- {objectName: a, secretPath: x, filePermission: 01777}", err: "outside 0 to 0777"},
		{name: "a mode not octal", in: `- {objectName: a, secretPath: x, filePermission: "0800"}`, err: "not an octal mode"},
		{name: "a mode not a number", in: `- {objectName: a, secretPath: x, filePermission: [1]}`, err: "must be a number"},
		{name: "a list for args", in: "- {objectName: a, secretPath: x, secretArgs: [1, 2]}", err: "cannot unmarshal"},
		{name: "args with a map key", in: "- {objectName: a, secretPath: x, secretArgs: {k: {1: 2}}}", err: "secretArgs must be"},
		{name: "too many", in: strings.Repeat("- {objectName: a, secretPath: x}\n", MaxObjects+1), err: "more than the 100 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseObjects(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseObjects = %v, %v; want an error with %q", got, err, tt.err)
				}
				if _, ok := errors.AsType[*paramError](err); !ok {
					t.Errorf("parseObjects error %T is not a *paramError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseObjects: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(object{})); diff != "" {
				t.Errorf("parseObjects (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAttributes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tokens := func(m map[string]tokenEntry) string {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	later := now.Add(time.Hour).Format(time.RFC3339)
	objs := "[{objectName: a, secretPath: secret/data/a}]"
	base := func(extra map[string]string) string {
		m := map[string]string{
			"roleName": "web", "objects": objs,
			"csi.storage.k8s.io/pod.name": "web-0", "csi.storage.k8s.io/pod.namespace": "shop",
			"csi.storage.k8s.io/serviceAccount.name":   "web",
			"csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"coffer": {Token: "tok-coffer", ExpirationTimestamp: later}}),
		}
		for k, v := range extra {
			if v == "-" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name      string
		in        string
		token     saToken
		authMount string
		address   string
		err       string
		code      string
	}{
		{name: "the one token", in: base(nil), token: "tok-coffer"},
		{
			name:  "the audience's token among several",
			in:    base(map[string]string{"audience": "b", "csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"a": {Token: "ta"}, "b": {Token: "tb"}})}),
			token: "tb",
		},
		{
			name:  "the default audience's token among several",
			in:    base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"a": {Token: "ta"}, "": {Token: "t0"}})}),
			token: "t0",
		},
		{
			name: "several tokens and no choice",
			in:   base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"a": {Token: "ta"}, "b": {Token: "tb"}})}),
			err:  "passed 2 service account tokens: set parameter audience", code: CodeMissingToken,
		},
		{name: "no tokens", in: base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": "-"}), err: "set tokenRequests", code: CodeMissingToken},
		{name: "tokens not JSON", in: base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": "{tok-secret"}), err: "syntax error at offset", code: CodeMissingToken},
		{name: "an empty token", in: base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"x": {}})}), err: "an empty service account token", code: CodeMissingToken},
		{
			name: "an expired token",
			in:   base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"x": {Token: "t", ExpirationTimestamp: now.Add(-time.Second).Format(time.RFC3339)}})}),
			err:  "expired at 2026-12-07T11:59:59Z", code: CodeMissingToken,
		},
		{
			name: "a bad expiry",
			in:   base(map[string]string{"csi.storage.k8s.io/serviceAccount.tokens": tokens(map[string]tokenEntry{"x": {Token: "t", ExpirationTimestamp: "soon"}})}),
			err:  "not an RFC 3339 time", code: CodeMissingToken,
		},
		{name: "the auth mount", in: base(map[string]string{"vaultKubernetesMountPath": "/auth/k8s/a/"}), token: "tok-coffer", authMount: "k8s/a"},
		{name: "the auth mount, newer name", in: base(map[string]string{"vaultAuthMountPath": "k8s"}), token: "tok-coffer", authMount: "k8s"},
		{name: "both names agree", in: base(map[string]string{"vaultAuthMountPath": "k8s", "vaultKubernetesMountPath": "k8s/"}), token: "tok-coffer", authMount: "k8s"},
		{name: "both names disagree", in: base(map[string]string{"vaultAuthMountPath": "k8s", "vaultKubernetesMountPath": "kubernetes"}), err: "name different mounts"},
		{name: "a bad mount", in: base(map[string]string{"vaultAuthMountPath": "k8s/../token"}), err: `auth mount path "k8s/../token"`},
		{name: "an address", in: base(map[string]string{"vaultAddress": " https://c:8200 "}), token: "tok-coffer", address: "https://c:8200"},
		{name: "no role", in: base(map[string]string{"roleName": " "}), err: "roleName is required"},
		{name: "a namespace", in: base(map[string]string{"vaultNamespace": "ns1"}), err: "Coffer has no namespaces"},
		{name: "not JSON", in: "roleName=web", err: "syntax error at offset 1"},
		{name: "a number", in: `{"roleName": 1}`, err: "a JSON number where a string was expected"},
		{name: "trailing data", in: base(nil) + "{}", err: "data after the object"},
		{name: "empty", in: "", err: "empty or cut short"},
		{name: "too large", in: strings.Repeat(" ", maxAttributesSize+1), err: "more than the 1048576 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := parseAttributes(tt.in, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parseAttributes error = %v, want one with %q", err, tt.err)
				}
				pe, _ := errors.AsType[*paramError](err)
				if pe == nil || pe.code != tt.code {
					t.Errorf("parseAttributes error = %#v, want a *paramError with code %q", err, tt.code)
				}
				if strings.Contains(err.Error(), "tok-") {
					t.Errorf("the error holds a token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAttributes: %v", err)
			}
			if p.token != tt.token || p.authMount != tt.authMount || p.address != tt.address || p.role != "web" {
				t.Errorf("parseAttributes = token %q, mount %q, address %q, role %q; want %q, %q, %q, web",
					string(p.token), p.authMount, p.address, p.role, string(tt.token), tt.authMount, tt.address)
			}
			if p.podNamespace != "shop" || p.podName != "web-0" || p.serviceAccount != "web" || len(p.objects) != 1 {
				t.Errorf("parseAttributes pod = %s/%s (%s), %d objects", p.podNamespace, p.podName, p.serviceAccount, len(p.objects))
			}
		})
	}
}

func TestTokenPrintsAsPlaceholder(t *testing.T) {
	t.Parallel()
	tok := saToken("tok-secret")
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("x", "token", tok)
	if got := fmt.Sprint(tok) + fmt.Sprintf("%v %s", tok, tok) + log.String(); strings.Contains(got, "tok-secret") {
		t.Errorf("a token prints as %q", got)
	}
}

func TestParsePermission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want fs.FileMode
		err  bool
	}{
		{"420", 0o644, false},
		{"", 0o644, false},
		{" 384 ", 0o600, false},
		{"0", 0, false},
		{"511", 0o777, false},
		{"512", 0, true},
		{"-1", 0, true},
		{"0644x", 0, true},
	}
	for _, tt := range tests {
		got, err := parsePermission(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parsePermission(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestSameAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://coffer:8200", "https://coffer:8200/", true},
		{"https://Coffer:8200", "HTTPS://coffer:8200", true},
		{"https://coffer", "https://coffer:443", true},
		{"http://coffer", "http://coffer:80", true},
		{"https://coffer:8200", "http://coffer:8200", false},
		{"https://coffer:8200", "https://coffer:8201", false},
		{"https://coffer:8200", "https://coffer.evil:8200", false},
		{"https://coffer:8200", "https://coffer:8200/x", false},
		{"https://coffer:8200", "https://user@coffer:8200", true}, // refused later by checkAddress if it differs
		{"https://coffer:8200", "::", false},
	}
	for _, tt := range tests {
		if got := sameAddress(tt.a, tt.b); got != tt.want {
			t.Errorf("sameAddress(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestKVv2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      map[string]any
		data    map[string]any
		version string
		ok      bool
	}{
		{"a KV v2 read", map[string]any{"data": map[string]any{"k": "v"}, "metadata": map[string]any{"version": json.Number("3")}}, map[string]any{"k": "v"}, "3", true},
		{"a deleted version", map[string]any{"data": nil, "metadata": map[string]any{"version": float64(2)}}, nil, "2", true},
		{"a KV v1 secret", map[string]any{"data": "x", "metadata": "y"}, nil, "", false},
		{"more keys", map[string]any{"data": map[string]any{}, "metadata": map[string]any{"version": "1"}, "x": 1}, nil, "", false},
		{"no version", map[string]any{"data": map[string]any{}, "metadata": map[string]any{}}, nil, "", false},
	}
	for _, tt := range tests {
		data, version, ok := kvV2(tt.in)
		if ok != tt.ok || version != tt.version || !cmp.Equal(data, tt.data) {
			t.Errorf("%s: kvV2 = %v, %q, %v; want %v, %q, %v", tt.name, data, version, ok, tt.data, tt.version, tt.ok)
		}
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		encoding, in, want string
		err                bool
	}{
		{"", "plain", "plain", false},
		{"base64", "aGVsbG8=", "hello", false},
		{"base64", "aGVsbG8", "hello", false},
		{"base64", " aGVsbG8=\n", "hello", false},
		{"base64", "!!!", "", true},
		{"hex", "68656c6c6f", "hello", false},
		{"hex", "6", "", true},
	}
	for _, tt := range tests {
		got, err := decode([]byte(tt.in), object{name: "o", encoding: tt.encoding})
		if (err != nil) != tt.err || string(got) != tt.want {
			t.Errorf("decode(%q, %q) = %q, %v; want %q, error %v", tt.in, tt.encoding, got, err, tt.want, tt.err)
		}
		if err != nil && strings.Contains(err.Error(), tt.in) {
			t.Errorf("decode error %q quotes the value", err)
		}
	}
}

// FuzzParseObjects checks that any objects parameter parses or is refused
// with a *paramError, never a panic, and that what parses is safe to use:
// names the driver accepts, paths with no "..", modes in range.
func FuzzParseObjects(f *testing.F) {
	for _, s := range []string{
		"- {objectName: a, secretPath: secret/data/a, secretKey: k}",
		"- objectName: a\n  secretPath: x\n  filePermission: 0600\n  secretArgs: {a: 1, b: [x]}\n  method: put\n  encoding: base64\n",
		`[{objectName: "a/b", secretPath: "/v1/x", filePermission: "0o640"}]`,
		"- &a {objectName: x, secretPath: y}\n- *a\n",
		"a: &a [*a, *a]",
		"- {objectName: ..a, secretPath: ../x}",
		"[{objectName: a, secretPath: x, filePermission: 0x1ff}]",
		"--- []\n--- []",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		objs, err := parseObjects(s)
		if err != nil {
			if _, ok := errors.AsType[*paramError](err); !ok {
				t.Fatalf("parseObjects error %T is not a *paramError: %v", err, err)
			}
			return
		}
		if len(objs) == 0 || len(objs) > MaxObjects {
			t.Fatalf("parseObjects returned %d objects", len(objs))
		}
		for _, o := range objs {
			if checkObjectName(o.name) != nil || checkPath(o.path) != nil {
				t.Fatalf("parseObjects accepted name %q path %q", o.name, o.path)
			}
			if strings.HasPrefix(o.name, "..") || strings.HasPrefix(o.name, "/") || strings.Contains("/"+o.name+"/", "/../") {
				t.Fatalf("parseObjects accepted name %q", o.name)
			}
			if o.mode != nil && *o.mode > 0o777 {
				t.Fatalf("parseObjects accepted mode %o", *o.mode)
			}
			switch o.method {
			case "GET", "PUT", "POST":
			default:
				t.Fatalf("parseObjects accepted method %q", o.method)
			}
			if _, err := jsonValue(o.args); err != nil {
				t.Fatalf("parseObjects accepted args that do not encode: %v", err)
			}
		}
	})
}

// FuzzParseAttributes checks that any attributes parse or are refused with
// a *paramError that never quotes the token, never a panic.
func FuzzParseAttributes(f *testing.F) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Add(`{"roleName":"web","objects":"- {objectName: a, secretPath: b}","csi.storage.k8s.io/serviceAccount.tokens":"{\"coffer\":{\"token\":\"tok-zzzz\",\"expirationTimestamp\":\"2027-01-01T00:00:00Z\"}}"}`)
	f.Add(`{"roleName":"web","audience":"x","vaultAddress":"https://a:1","vaultAuthMountPath":"k/8","objects":"[]"}`)
	f.Add(`{"roleName":"web","objects":"- {objectName: a, secretPath: b}","csi.storage.k8s.io/serviceAccount.tokens":"{\"\":{\"token\":\"tok-zzzz\"},\"b\":{}}"}`)
	f.Add(`{"csi.storage.k8s.io/serviceAccount.tokens":"{\"a\":{\"token\":\"tok-zzzz\",\"expirationTimestamp\":\"x\"}}","roleName":"r","objects":"- {objectName: a, secretPath: b}"}`)
	f.Add(`[]`)
	f.Add(`{"roleName": null}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseAttributes(s, now)
		if err != nil {
			if _, ok := errors.AsType[*paramError](err); !ok {
				t.Fatalf("parseAttributes error %T is not a *paramError: %v", err, err)
			}
			for _, tok := range onlyTokens(s) {
				if strings.Contains(err.Error(), tok) {
					t.Fatalf("parseAttributes error quotes the token: %v", err)
				}
			}
			return
		}
		if p.role == "" || len(p.objects) == 0 || p.token == "" {
			t.Fatalf("parseAttributes accepted role %q, %d objects, token set %v", p.role, len(p.objects), p.token != "")
		}
		if p.authMount != "" && checkPath(p.authMount) != nil {
			t.Fatalf("parseAttributes accepted mount %q", p.authMount)
		}
	})
}

// onlyTokens returns the tokens of the attributes s that appear nowhere
// else in them, and are long enough not to turn up by chance.
func onlyTokens(s string) []string {
	var attrs map[string]string
	if json.Unmarshal([]byte(s), &attrs) != nil {
		return nil
	}
	var toks map[string]tokenEntry
	if json.Unmarshal([]byte(attrs[attrPodTokens]), &toks) != nil {
		return nil
	}
	var out []string
	for _, e := range toks {
		if len(e.Token) < 6 {
			continue
		}
		elsewhere := false
		for k, v := range attrs {
			if k != attrPodTokens && (strings.Contains(v, e.Token) || strings.Contains(k, e.Token)) {
				elsewhere = true
			}
		}
		if !elsewhere {
			out = append(out, e.Token)
		}
	}
	return out
}

func TestCheckParameters(t *testing.T) {
	t.Parallel()
	objs := "- {objectName: a, secretPath: secret/data/a}\n- {objectName: b, secretPath: /v1/kv/b, secretKey: k}"
	tests := []struct {
		name   string
		params map[string]string
		paths  []string
		err    string
	}{
		{name: "good", params: map[string]string{"roleName": "web", "objects": objs, "audience": "coffer"}, paths: []string{"secret/data/a", "kv/b"}},
		{name: "no objects", params: map[string]string{"roleName": "web"}, err: "parameter objects is required"},
		{name: "a bad address", params: map[string]string{"roleName": "web", "objects": objs, "vaultAddress": "ftp://x"}, err: "not an http or https address"},
		{name: "a namespace", params: map[string]string{"roleName": "web", "objects": objs, "vaultNamespace": "a"}, err: "no namespaces"},
	}
	for _, tt := range tests {
		role, paths, err := CheckParameters(tt.params)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: CheckParameters error = %v, want one with %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || role != "web" || !cmp.Equal(paths, tt.paths) {
			t.Errorf("%s: CheckParameters = %q, %v, %v; want web, %v", tt.name, role, paths, err, tt.paths)
		}
	}
}
