package leaks_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/testserver"
)

// checkerPolicy may check for leaks and read the team's secrets only.
const checkerPolicy = `
path "sys/leaks/check" { capabilities = ["update"] }
path "secret/data/team/*" { capabilities = ["read"] }
`

// match is one entry of an answer, as a client decodes it.
type match struct {
	Index    int    `json:"index"`
	Readable bool   `json:"readable"`
	Mount    string `json:"mount,omitempty"`
	Path     string `json:"path,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  *int   `json:"version,omitempty"`
	Current  *bool  `json:"current,omitempty"`
	Kind     string `json:"kind,omitempty"`
}

type answer struct {
	Matches []match `json:"matches"`
	Checked int     `json:"checked"`
}

// hashOf is what a scanner sends for candidate v.
func hashOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// randomSecret is a fresh random string shaped like a generated password.
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// check sends candidates (as their hashes) to sys/leaks/check as cl.
func check(t testing.TB, cl *api.Client, candidates ...string) (*answer, error) {
	t.Helper()
	hs := make([]string, len(candidates))
	for i, c := range candidates {
		hs[i] = hashOf(c)
	}
	sec, err := cl.Logical().WriteWithContext(t.Context(), "sys/leaks/check", map[string]any{"candidates": hs})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(sec.Data)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	return &a, nil
}

func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

func ptr[T any](v T) *T { return &v }

// tokenWith returns a client whose token has the named policies.
func tokenWith(t testing.TB, s *testserver.Server, policies ...string) *api.Client {
	t.Helper()
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: policies})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := s.Client.Clone()
	if err != nil {
		t.Fatal(err)
	}
	cl.SetToken(sec.Auth.ClientToken)
	return cl
}

func TestCheckKV(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	if err := s.Client.Sys().PutPolicy("checker", checkerPolicy); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().PutPolicy("nocheck", `path "secret/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	kv := s.Client.KVv2("secret")
	ctx := t.Context()
	old, cur, hidden, short := randomSecret(t), randomSecret(t), randomSecret(t), "abc1234"
	if _, err := kv.Put(ctx, "team/db", map[string]any{"password": old, "user": "app-user-name"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "other/api", map[string]any{"token": hidden, "pin": short}); err != nil {
		t.Fatal(err)
	}
	checker := tokenWith(t, s, "checker")

	// Found before any rotation: readable, current.
	a, err := check(t, checker, "nothing-like-this", old)
	if err != nil {
		t.Fatal(err)
	}
	want := &answer{Checked: 2, Matches: []match{{Index: 1, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(1), Current: ptr(true), Kind: "kv"}}}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("first check (-want +got):\n%s", d)
	}

	// A new version: the old value is now reported as not current.
	if _, err := kv.Put(ctx, "team/db", map[string]any{"password": cur, "user": "app-user-name"}); err != nil {
		t.Fatal(err)
	}
	a, err = check(t, checker, old, cur, hidden, short, randomSecret(t))
	if err != nil {
		t.Fatal(err)
	}
	want = &answer{Checked: 5, Matches: []match{
		{Index: 0, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(1), Current: ptr(false), Kind: "kv"},
		{Index: 1, Readable: true, Mount: "secret/", Path: "team/db", Key: "password", Version: ptr(2), Current: ptr(true), Kind: "kv"},
		{Index: 2}, // a live secret the checker may not read: nothing more
	}}
	if d := cmp.Diff(want, a); d != "" {
		t.Errorf("after rotation (-want +got):\n%s", d)
	}

	// Destroying the old version takes it out; deleting the key's
	// metadata takes out everything.
	if err := kv.Destroy(ctx, "team/db", []int{1}); err != nil {
		t.Fatal(err)
	}
	if a, err = check(t, checker, old, cur); err != nil {
		t.Fatal(err)
	}
	if len(a.Matches) != 1 || a.Matches[0].Index != 1 {
		t.Errorf("after destroy: matches %+v, want only index 1", a.Matches)
	}
	if err := kv.DeleteMetadata(ctx, "team/db"); err != nil {
		t.Fatal(err)
	}
	if a, err = check(t, checker, old, cur); err != nil {
		t.Fatal(err)
	}
	if len(a.Matches) != 0 {
		t.Errorf("after metadata delete: matches %+v, want none", a.Matches)
	}

	// Without the capability: 403.
	_, err = check(t, tokenWith(t, s, "nocheck"), cur)
	if got := statusOf(err); got != http.StatusForbidden || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("check without capability: %v, want 403 permission denied", err)
	}
}
