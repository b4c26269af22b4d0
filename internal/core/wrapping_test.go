package core_test

import (
	"testing"
	"time"

	"github.com/coffer-secrets/coffer/internal/logical/logicaltest"
	"github.com/coffer-secrets/coffer/internal/testserver"
	"github.com/hashicorp/vault/api"
)

// wrappingClient returns a client that asks for every response wrapped
// with ttl.
func wrappingClient(t *testing.T, s *testserver.Server, tok, ttl string) *api.Client {
	t.Helper()
	cl := clientWith(t, s, tok)
	cl.SetWrappingLookupFunc(func(operation, path string) string { return ttl })
	return cl
}

func TestResponseWrapping(t *testing.T) {
	t.Parallel()
	clock := logicaltest.NewClock(time.Now())
	s := testserver.StartWith(t, testserver.Options{Clock: clock})
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "app", map[string]any{"password": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	w := wrappingClient(t, s, s.RootToken, "5m")
	sec, err := w.Logical().Read("secret/data/app")
	if err != nil {
		t.Fatal(err)
	}
	if sec.WrapInfo == nil || sec.WrapInfo.Token == "" || sec.WrapInfo.TTL != 300 || sec.WrapInfo.CreationPath != "secret/data/app" || sec.Data != nil {
		t.Fatalf("wrapped read = %+v / %+v", sec, sec.WrapInfo)
	}
	wrapTok := sec.WrapInfo.Token

	// Lookup does not consume it.
	anon := clientWith(t, s, "")
	anon.ClearToken()
	for range 2 {
		lk, err := anon.Logical().Write("sys/wrapping/lookup", map[string]any{"token": wrapTok})
		if err != nil || lk.Data["creation_path"] != "secret/data/app" {
			t.Fatalf("lookup = %v, %v", lk, err)
		}
	}
	// Unwrap once, with the wrapping token itself as the client token.
	un, err := clientWith(t, s, wrapTok).Logical().Unwrap("")
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	if data, _ := un.Data["data"].(map[string]any); data["password"] != "hunter2" {
		t.Errorf("unwrapped data = %v", un.Data)
	}
	// The second unwrap fails.
	if _, err := s.Client.Logical().Unwrap(wrapTok); statusCode(err) != 400 {
		t.Errorf("second unwrap error = %v, want 400", err)
	}

	// An expired wrapping token cannot be unwrapped.
	sec, err = wrappingClient(t, s, s.RootToken, "60s").Logical().Read("secret/data/app")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	if _, err := s.Client.Logical().Unwrap(sec.WrapInfo.Token); statusCode(err) != 400 {
		t.Errorf("expired unwrap error = %v, want 400", err)
	}

	// Rewrap gives a new token; the old one is spent.
	sec, err = wrappingClient(t, s, s.RootToken, "5m").Logical().Read("secret/data/app")
	if err != nil {
		t.Fatal(err)
	}
	rw, err := s.Client.Logical().Write("sys/wrapping/rewrap", map[string]any{"token": sec.WrapInfo.Token})
	if err != nil || rw.WrapInfo == nil || rw.WrapInfo.Token == sec.WrapInfo.Token {
		t.Fatalf("rewrap = %+v, %v", rw, err)
	}
	if _, err := s.Client.Logical().Unwrap(sec.WrapInfo.Token); err == nil {
		t.Error("the old token still unwraps after rewrap")
	}
	if un, err := s.Client.Logical().Unwrap(rw.WrapInfo.Token); err != nil || un.Data["data"] == nil {
		t.Errorf("unwrap after rewrap = %v, %v", un, err)
	}

	// sys/wrapping/wrap wraps arbitrary data; a token create can be wrapped.
	wr, err := wrappingClient(t, s, s.RootToken, "2m").Logical().Write("sys/wrapping/wrap", map[string]any{"k": "v"})
	if err != nil || wr.WrapInfo == nil {
		t.Fatalf("sys/wrapping/wrap = %v, %v", wr, err)
	}
	if un, err := s.Client.Logical().Unwrap(wr.WrapInfo.Token); err != nil || un.Data["k"] != "v" {
		t.Errorf("unwrap of wrapped data = %v, %v", un, err)
	}
	// (The official client adds a default wrap TTL for this path itself.)
	if code, body := rawRequest(t, s, s.RootToken, "POST", "sys/wrapping/wrap", `{"k":"v"}`); code != 400 {
		t.Errorf("wrap without a TTL = %d %s, want 400", code, body)
	}
	tc, err := wrappingClient(t, s, s.RootToken, "2m").Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil || tc.WrapInfo == nil || tc.WrapInfo.WrappedAccessor == "" {
		t.Fatalf("wrapped token create = %+v, %v", tc, err)
	}
	un, err = s.Client.Logical().Unwrap(tc.WrapInfo.Token)
	if err != nil || un.Auth == nil || un.Auth.Accessor != tc.WrapInfo.WrappedAccessor {
		t.Errorf("unwrapped token = %+v, %v", un, err)
	}
}

func TestWrappingTTLPolicy(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	mustWrite(t, s.Client, "sys/policies/acl/wrapped", map[string]any{"policy": `
path "secret/data/*" {
  capabilities = ["read"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "10m"
}`})
	if _, err := s.Client.KVv2("secret").Put(t.Context(), "x", map[string]any{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	tok, _ := createToken(t, s.Client, &api.TokenCreateRequest{Policies: []string{"wrapped"}})
	for ttl, ok := range map[string]bool{"": false, "30s": false, "5m": true, "1h": false} {
		cl := clientWith(t, s, tok)
		if ttl != "" {
			cl = wrappingClient(t, s, tok, ttl)
		}
		_, err := cl.Logical().Read("secret/data/x")
		if (err == nil) != ok {
			t.Errorf("read with wrap TTL %q: error %v, want allowed %v", ttl, err, ok)
		}
	}
}
