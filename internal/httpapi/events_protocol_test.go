package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/coffer-secrets/coffer/internal/httpapi"
	"github.com/coffer-secrets/coffer/internal/testserver"
)

// TestEventSubscribeTokenProtocol: a browser, which cannot set
// X-Vault-Token on a WebSocket, offers the token as a subprotocol; the
// server chooses the marker protocol, applies the token's ACL as for the
// header, and refuses malformed offers with a 400.
func TestEventSubscribeTokenProtocol(t *testing.T) {
	t.Parallel()
	s := testserver.Start(t)
	tok := restrictedToken(t, s.Client, "ws-reader", `
path "sys/events/subscribe/kv*" { capabilities = ["read"] }
path "secret/data/app/*" { capabilities = ["read"] }`)
	enc := func(t string) string {
		return httpapi.TokenProtocolPrefix + base64.RawURLEncoding.EncodeToString([]byte(t))
	}
	u := "ws" + strings.TrimPrefix(s.Addr, "http") + "/v1/sys/events/subscribe/kv*?json=true"
	dial := func(protocols []string, header http.Header) (*websocket.Conn, int) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: protocols, HTTPHeader: header})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial: %v", err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { conn.CloseNow() })
		return conn, http.StatusSwitchingProtocols
	}
	refusals := []struct {
		name      string
		protocols []string
		want      int
	}{
		{"no token", []string{httpapi.EventsProtocol}, http.StatusForbidden},
		{"unknown token", []string{httpapi.EventsProtocol, enc("s.not-a-token")}, http.StatusForbidden},
		{"not base64url", []string{httpapi.EventsProtocol, httpapi.TokenProtocolPrefix + "a+b"}, http.StatusBadRequest},
		{"empty", []string{httpapi.EventsProtocol, httpapi.TokenProtocolPrefix}, http.StatusBadRequest},
		{"two tokens", []string{httpapi.EventsProtocol, enc(tok), enc(tok)}, http.StatusBadRequest},
		{"no marker", []string{enc(tok)}, http.StatusBadRequest},
		{"no permission", []string{httpapi.EventsProtocol, enc(restrictedToken(t, s.Client, "ws-none", `path "secret/data/*" { capabilities = ["read"] }`))}, http.StatusForbidden},
	}
	for _, tc := range refusals {
		if _, status := dial(tc.protocols, nil); status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.want)
		}
	}
	conn, status := dial([]string{httpapi.EventsProtocol, enc(tok)}, nil)
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe with the token subprotocol: status %d", status)
	}
	if got := conn.Subprotocol(); got != httpapi.EventsProtocol {
		t.Errorf("chosen subprotocol %q, want %q", got, httpapi.EventsProtocol)
	}
	// The header still wins: a valid header with a bogus subprotocol token works.
	hconn, status := dial([]string{httpapi.EventsProtocol, enc("s.bogus")}, http.Header{"X-Vault-Token": {tok}})
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("subscribe with the header and a bogus subprotocol: status %d", status)
	}
	kv := s.Client.KVv2("secret")
	if _, err := kv.Put(t.Context(), "other/x", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(t.Context(), "app/db", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{conn, hconn} {
		e, err := readEvent(t, c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if e.Type != "kv-v2/data-write" || e.Metadata["data_path"] != "secret/data/app/db" {
			t.Errorf("event %s %s, want the write of secret/data/app/db (the token may not read other/)", e.Type, e.Metadata["data_path"])
		}
	}
}
