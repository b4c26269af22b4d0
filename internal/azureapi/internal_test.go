package azureapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-secrets/coffer/internal/kvpayload"
)

func TestParseRoute(t *testing.T) {
	t.Parallel()
	v3 := VersionID(3)
	tests := []struct {
		method, path string
		want         route
		status       int // 0: parses
	}{
		{"GET", "/secrets", route{op: opList}, 0},
		{"GET", "/secrets/", route{}, 400},
		{"POST", "/secrets/restore", route{}, 400},
		{"GET", "/secrets/restore", route{op: opGet, name: "restore"}, 0},
		{"PUT", "/secrets/a-B-9", route{op: opSet, name: "a-B-9"}, 0},
		{"GET", "/secrets/a", route{op: opGet, name: "a"}, 0},
		{"GET", "/secrets/a/", route{op: opGet, name: "a"}, 0},
		{"PATCH", "/secrets/a/", route{op: opUpdate, name: "a"}, 0},
		{"GET", "/secrets/a/" + v3, route{op: opGet, name: "a", version: 3}, 0},
		{"GET", "/secrets/a/" + strings.ToUpper(v3), route{op: opGet, name: "a", version: 3}, 0},
		{"PATCH", "/secrets/a/" + v3, route{op: opUpdate, name: "a", version: 3}, 0},
		{"DELETE", "/secrets/a/" + v3, route{}, 405},
		{"DELETE", "/secrets/a", route{op: opDelete, name: "a"}, 0},
		{"GET", "/secrets/a/versions", route{op: opListVersions, name: "a"}, 0},
		{"GET", "/deletedsecrets", route{op: opListDeleted}, 0},
		{"GET", "/deletedsecrets/a", route{op: opGetDeleted, name: "a"}, 0},
		{"DELETE", "/deletedsecrets/a", route{op: opPurge, name: "a"}, 0},
		{"POST", "/deletedsecrets/a/recover", route{op: opRecover, name: "a"}, 0},
		{"GET", "/deletedsecrets/a/recover", route{}, 405},
		{"POST", "/secrets/a/backup", route{}, 400},
		{"GET", "/secrets/a.b", route{}, 400},
		{"GET", "/secrets/" + strings.Repeat("z", 127), route{op: opGet, name: strings.Repeat("z", 127)}, 0},
		{"GET", "/secrets/" + strings.Repeat("z", 128), route{}, 400},
		{"GET", "/secrets/a/" + VersionID(1<<31+1), route{}, 400},
		{"PUT", "/keys/a", route{}, 404},
	}
	for _, tt := range tests {
		got, err := parseRoute(tt.method, tt.path)
		status := 0
		if err != nil {
			ae, _ := toAPI(err)
			status = ae.status
		}
		if status != tt.status || got != tt.want {
			t.Errorf("parseRoute(%s %s) = %+v, %v; want %+v, status %d", tt.method, tt.path, got, err, tt.want, tt.status)
		}
	}
}

func TestServed(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"/secrets": true, "/secrets/a": true, "/deletedsecrets": true, "/deletedsecrets/a/recover": true,
		"/": false, "/secretsx": false, "/v1/secret/data/a": false, "/ui/": false, "/ui/secrets": false, "/deletedsecretsx": false, "/keys/a": false,
	}
	for p, want := range tests {
		if got := Served(p); got != want {
			t.Errorf("Served(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestAPIVersion(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"7.0": true, "7.4": true, "7.5": true, "7.6": true, "7.6-preview.2": true, "2025-07-01": true, "2026-04-01": true, "2026-04-01-preview": true,
		"": false, "6.0": false, "2016-10-01": false, "7": false, "seven": false, "2025-13-01": false, "2025-07-01x": false,
	}
	for v, want := range tests {
		if got := checkAPIVersion(v) == nil; got != want {
			t.Errorf("checkAPIVersion(%q) ok = %v, want %v", v, got, want)
		}
	}
}

func TestChallengeHeader(t *testing.T) {
	t.Parallel()
	tests := []struct{ host, want string }{
		{"myvault.example.com", `Bearer authorization="https://myvault.example.com/coffer", resource="https://example.com"`},
		{"localhost:8200", `Bearer authorization="https://localhost:8200/coffer", resource="https://vault.azure.net"`},
		{"127.0.0.1:8200", `Bearer authorization="https://127.0.0.1:8200/coffer", resource="https://0.0.1:8200"`},
		{"bad\"host", `Bearer authorization="https://localhost/coffer", resource="https://vault.azure.net"`},
	}
	for _, tt := range tests {
		if got := challenge(tt.host); got != tt.want {
			t.Errorf("challenge(%q) = %s, want %s", tt.host, got, tt.want)
		}
	}
}

func TestValueOf(t *testing.T) {
	t.Parallel()
	tests := []struct{ data, want string }{
		{`{"SecretString":"s"}`, "s"},
		{`{"SecretString":"s","other":"x"}`, "s"},
		{`{"value":"v"}`, "v"},
		{`{"value":"v","b":"c"}`, `{"b":"c","value":"v"}`},
		{`{"SecretBinary":"AAE="}`, "AAE="},
		{`{"user":"app","n":1}`, `{"n":1,"user":"app"}`},
	}
	for _, tt := range tests {
		var d kvpayload.Read
		if err := jsonUnmarshal(`{"data":`+tt.data+`}`, &d); err != nil {
			t.Fatal(err)
		}
		if got := valueOf(d.Data); got != tt.want {
			t.Errorf("valueOf(%s) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestVersionMetaLimit(t *testing.T) {
	t.Parallel()
	vm := versionMeta{ContentType: strings.Repeat("c", 255), Tags: map[string]string{"k": strings.Repeat("v", 256)}}
	if _, err := vm.encode(); err == nil {
		t.Fatal("encode of 520 bytes of metadata succeeded, want BadParameter")
	} else if ae, _ := toAPI(err); ae.status != http.StatusBadRequest {
		t.Errorf("encode error status = %d, want 400", ae.status)
	}
	if enc, err := (versionMeta{}).encode(); enc != nil || err != nil {
		t.Errorf("encode(zero) = %v, %v; want nil, nil", enc, err)
	}
}
