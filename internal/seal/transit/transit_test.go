package transit_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/coffer-secrets/coffer/internal/seal"
	"github.com/coffer-secrets/coffer/internal/seal/sealtest"
	"github.com/coffer-secrets/coffer/internal/seal/transit"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// transitServer starts a Coffer test server with the transit engine at
// mount and a key named "seal".
func transitServer(t *testing.T, mount string) *testserver.Server {
	t.Helper()
	s := testserver.Start(t)
	if err := s.Client.Sys().Mount(mount, &api.MountInput{Type: "transit"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write(mount+"/keys/seal", nil); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWrapper(t *testing.T) {
	t.Parallel()
	s := transitServer(t, "unseal")
	w, err := transit.New(transit.Options{Address: s.Addr, Token: s.RootToken, KeyName: "seal", MountPath: "unseal/"})
	if err != nil {
		t.Fatal(err)
	}
	sealtest.RunWrapper(t, w)

	// A blob made before the transit key was rotated still opens.
	ctx := t.Context()
	b, err := w.Wrap(ctx, []byte("root key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("unseal/keys/seal/rotate", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := w.Unwrap(ctx, b); err != nil || string(got) != "root key" {
		t.Errorf("Unwrap after a key rotation = %q, %v; want the plaintext", got, err)
	}
	sealtest.RunWrapper(t, w)

	// A sealed transit server is unreachable (503), not a refusal.
	if err := s.Client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Unwrap(ctx, b); !errors.Is(err, seal.ErrUnreachable) {
		t.Errorf("Unwrap with the transit server sealed = %v, want ErrUnreachable", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + l.Addr().String()
	l.Close()
	w, err := transit.New(transit.Options{Address: addr, Token: "t", KeyName: "k"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Wrap(t.Context(), []byte("x"))
	if !errors.Is(err, seal.ErrUnreachable) {
		t.Fatalf("Wrap with nothing listening = %v, want ErrUnreachable", err)
	}
	if got := err.Error(); !strings.Contains(got, addr) {
		t.Errorf("error %q does not name the address %s", got, addr)
	}
}

func TestBadToken(t *testing.T) {
	t.Parallel()
	s := transitServer(t, "transit")
	w, err := transit.New(transit.Options{Address: s.Addr, Token: "wrong-token", KeyName: "seal"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Wrap(t.Context(), []byte("x"))
	if err == nil || errors.Is(err, seal.ErrUnreachable) || errors.Is(err, seal.ErrUnwrap) || strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("Wrap with a bad token = %v, want a plain error without the token", err)
	}
}

func TestRenewal(t *testing.T) {
	t.Parallel()
	s := transitServer(t, "transit")
	tok, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{TTL: "2s", Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := transit.New(transit.Options{Address: s.Addr, Token: tok.Auth.ClientToken, KeyName: "seal"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := w.Wrap(ctx, []byte("x")); err != nil {
			t.Fatalf("Wrap %v after start: %v (token not renewed?)", 4*time.Second-time.Until(deadline), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Without renewal the same kind of token expires.
	tok2, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{TTL: "1s", Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	w2, _ := transit.New(transit.Options{Address: s.Addr, Token: tok2.Auth.ClientToken, KeyName: "seal", DisableRenewal: true})
	if err := w2.Run(ctx); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, err := w2.Wrap(ctx, []byte("x")); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 1s token with renewal disabled still works after 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
