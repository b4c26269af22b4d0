package core_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/incident"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// auditLine is the part of a file audit device's line these tests read.
type auditLine struct {
	Type    string `json:"type"`
	Request struct {
		Path string         `json:"path"`
		Data map[string]any `json:"data"`
	} `json:"request"`
	Response struct {
		Data map[string]any `json:"data"`
	} `json:"response"`
}

// lastAudit returns the last request and response lines of file for
// requests to path.
func lastAudit(t *testing.T, file, path string) (req, resp auditLine) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l auditLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Request.Path != path {
			continue
		}
		if l.Type == "request" {
			req = l
		} else if l.Type == "response" {
			resp = l
		}
	}
	if req.Type == "" || resp.Type == "" {
		t.Fatalf("no audit entries for %s in %s", path, raw)
	}
	return req, resp
}

func hmaced(v any) bool {
	s, ok := v.(string)
	return ok && strings.HasPrefix(s, "hmac-sha256:")
}

// TestAuditNonHMACKeys: a mount's audit_non_hmac_request_keys and
// audit_non_hmac_response_keys leave those top-level keys in clear in its
// audit entries (everything else stays HMACed), show in the mount's config
// reads, are replaced and cleared by a tune, and are refused with a 400
// when malformed; a mount without them HMACs every value.
func TestAuditNonHMACKeys(t *testing.T) {
	t.Parallel()
	s := testserver.StartWith(t, testserver.Options{AuditAnyDir: true})
	cl := s.Client
	file := filepath.Join(t.TempDir(), "audit.log")
	if err := cl.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": file}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().Mount("transit", &api.MountInput{Type: "transit", Config: api.MountConfigInput{
		AuditNonHMACRequestKeys:  []string{"plaintext"},
		AuditNonHMACResponseKeys: []string{"ciphertext"},
	}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Sys().Mount("plain", &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"transit", "plain"} {
		if _, err := cl.Logical().Write(m+"/keys/k", nil); err != nil {
			t.Fatal(err)
		}
	}
	// "aGVsbG8=" is base64 "hello"; note is a field transit ignores, in
	// the audited body all the same.
	encrypt := func(mount string) (ciphertext string) {
		t.Helper()
		sec, err := cl.Logical().Write(mount+"/encrypt/k", map[string]any{"plaintext": "aGVsbG8=", "note": "n1"})
		if err != nil {
			t.Fatal(err)
		}
		return sec.Data["ciphertext"].(string)
	}

	ct := encrypt("transit")
	clearCT := []string{ct}
	req, resp := lastAudit(t, file, "transit/encrypt/k")
	if got := resp.Response.Data["ciphertext"]; got != ct {
		t.Errorf("listed response key: ciphertext = %v, want %q in clear", got, ct)
	}
	if got := req.Request.Data["plaintext"]; got != "aGVsbG8=" {
		t.Errorf("listed request key: plaintext = %v, want in clear", got)
	}
	if got := req.Request.Data["note"]; !hmaced(got) {
		t.Errorf("unlisted request key: note = %v, want HMACed", got)
	}

	ct = encrypt("plain")
	req, resp = lastAudit(t, file, "plain/encrypt/k")
	if got := resp.Response.Data["ciphertext"]; !hmaced(got) || got == ct {
		t.Errorf("mount without lists: ciphertext = %v, want HMACed", got)
	}
	if got := req.Request.Data["plaintext"]; !hmaced(got) {
		t.Errorf("mount without lists: plaintext = %v, want HMACed", got)
	}

	// A tune replaces the request list and leaves the response list.
	if err := cl.Sys().TuneMountAllowNil("transit", api.TuneMountConfigInput{AuditNonHMACRequestKeys: &[]string{"note"}}); err != nil {
		t.Fatal(err)
	}
	ct = encrypt("transit")
	clearCT = append(clearCT, ct)
	req, resp = lastAudit(t, file, "transit/encrypt/k")
	if got := req.Request.Data["note"]; got != "n1" {
		t.Errorf("after tune: note = %v, want in clear", got)
	}
	if got := req.Request.Data["plaintext"]; !hmaced(got) {
		t.Errorf("after tune: plaintext = %v, want HMACed", got)
	}
	if got := resp.Response.Data["ciphertext"]; got != ct {
		t.Errorf("tune of the request list changed the response list: ciphertext = %v", got)
	}

	// The reads show the lists as Vault does.
	cfg, err := cl.Sys().MountConfig("transit")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.AuditNonHMACRequestKeys, []string{"note"}) || !slices.Equal(cfg.AuditNonHMACResponseKeys, []string{"ciphertext"}) {
		t.Errorf("tune read: request keys %q, response keys %q", cfg.AuditNonHMACRequestKeys, cfg.AuditNonHMACResponseKeys)
	}
	list, err := cl.Sys().ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	if got := list["transit/"].Config; !slices.Equal(got.AuditNonHMACRequestKeys, []string{"note"}) || !slices.Equal(got.AuditNonHMACResponseKeys, []string{"ciphertext"}) {
		t.Errorf("sys/mounts: config = %+v", got)
	}
	if got := list["plain/"].Config; got.AuditNonHMACRequestKeys != nil || got.AuditNonHMACResponseKeys != nil {
		t.Errorf("sys/mounts: mount without lists shows %+v", got)
	}

	// An empty list clears one (other ways below).
	if err := cl.Sys().TuneMountAllowNil("transit", api.TuneMountConfigInput{AuditNonHMACResponseKeys: &[]string{}}); err != nil {
		t.Fatal(err)
	}
	ct = encrypt("transit")
	_, resp = lastAudit(t, file, "transit/encrypt/k")
	if got := resp.Response.Data["ciphertext"]; !hmaced(got) || got == ct {
		t.Errorf("after clearing: ciphertext = %v, want HMACed", got)
	}

	// An incident report picks up the ciphertexts the log holds in clear,
	// and only those.
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := incident.Build(f, incident.Targets{CIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	if err != nil {
		t.Fatal(err)
	}
	var reported []string
	plainWrites := 0
	for _, w := range rep.Writes {
		switch w.Path {
		case "transit/encrypt/k":
			reported = append(reported, w.Ciphertexts...)
		case "plain/encrypt/k":
			plainWrites++
			if len(w.Ciphertexts) != 0 {
				t.Errorf("report: mount without lists gave ciphertexts %q", w.Ciphertexts)
			}
		}
	}
	if !slices.Equal(reported, clearCT) || plainWrites != 1 {
		t.Errorf("report: transit ciphertexts %q (want %q), %d plain/ encryptions (want 1)", reported, clearCT, plainWrites)
	}

	// Auth methods carry the lists too (sys/auth reads them).
	if err := cl.Sys().EnableAuthWithOptions("up", &api.EnableAuthOptions{Type: "userpass", Config: api.MountConfigInput{AuditNonHMACRequestKeys: []string{"username"}}}); err != nil {
		t.Fatal(err)
	}
	auths, err := cl.Sys().ListAuth()
	if err != nil {
		t.Fatal(err)
	}
	if got := auths["up/"].Config.AuditNonHMACRequestKeys; !slices.Equal(got, []string{"username"}) {
		t.Errorf("sys/auth: audit_non_hmac_request_keys = %q", got)
	}

	// Vault's comma-separated form is read too; "" and [""] clear.
	for _, tc := range []struct {
		given any
		want  []string
	}{
		{"ciphertext, key_version", []string{"ciphertext", "key_version"}},
		{"", nil},
		{[]string{"ciphertext"}, []string{"ciphertext"}},
		{[]string{""}, nil},
	} {
		if _, err := cl.Logical().Write("sys/mounts/plain/tune", map[string]any{"audit_non_hmac_response_keys": tc.given}); err != nil {
			t.Fatal(err)
		}
		cfg, err := cl.Sys().MountConfig("plain")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.AuditNonHMACResponseKeys, tc.want) {
			t.Errorf("tune with %q: audit_non_hmac_response_keys = %q, want %q", tc.given, cfg.AuditNonHMACResponseKeys, tc.want)
		}
	}

	// A built-in mount (the token store) is tuned the same way.
	if err := cl.Sys().TuneMountAllowNil("auth/token", api.TuneMountConfigInput{AuditNonHMACRequestKeys: &[]string{"display_name"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Auth().Token().Create(&api.TokenCreateRequest{DisplayName: "probe", Policies: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	req, _ = lastAudit(t, file, "auth/token/create")
	if got := req.Request.Data["display_name"]; got != "probe" {
		t.Errorf("token store: display_name = %v, want in clear", got)
	}
	if got := req.Request.Data["policies"].([]any)[0]; !hmaced(got) {
		t.Errorf("token store: policies = %v, want HMACed", got)
	}

	bad := []struct {
		name string
		body map[string]any
		want string
	}{
		{"empty key", map[string]any{"audit_non_hmac_request_keys": []string{"a", ""}}, "keys must not be empty"},
		{"key too long", map[string]any{"audit_non_hmac_response_keys": []string{strings.Repeat("k", 257)}}, "at most 256 are allowed"},
		{"too many keys", map[string]any{"audit_non_hmac_request_keys": make([]string, 65)}, "at most 64 keys"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cl.Logical().Write("sys/mounts/transit/tune", tt.body)
			var re *api.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(strings.Join(re.Errors, " "), tt.want) {
				t.Fatalf("tune with %s: err = %v, want 400 saying %q", tt.name, err, tt.want)
			}
			_, err = cl.Logical().Write("sys/mounts/other", map[string]any{"type": "transit", "config": tt.body})
			if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(strings.Join(re.Errors, " "), tt.want) {
				t.Fatalf("enable with %s: err = %v, want 400 saying %q", tt.name, err, tt.want)
			}
		})
	}
	cfg, err = cl.Sys().MountConfig("transit")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.AuditNonHMACRequestKeys, []string{"note"}) || cfg.AuditNonHMACResponseKeys != nil {
		t.Errorf("refused tunes changed the mount: %q, %q", cfg.AuditNonHMACRequestKeys, cfg.AuditNonHMACResponseKeys)
	}
}
